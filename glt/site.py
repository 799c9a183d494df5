"""The executed tutorial as a small static site: an index page and one page per notebook.

The index lists the notebooks in order with what each teaches (the first paragraph after its
title), its status, run time and key numbers (WORK/metrics/<notebook>.json). Every page links
to the index and to the previous and next notebooks. Pages are nbconvert's `lab` template
with a navigation bar and a few rules that keep them readable on a phone: wide tables, code
and outputs scroll inside their own box instead of widening the page. Figures are embedded
in the pages, the math is MathML (drawn by the browser, no MathJax) and matplotlib's JavaScript
animations are kept as they are, so the folder can be copied or served as a whole, and read
offline. Repository files the notebooks link to (docs/*.md) become pages
of the site too, with the images they show embedded the same way.
"""

from __future__ import annotations

import base64
import html
import mimetypes
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

from glt.paths import REPO_ROOT

NOTEBOOKS = REPO_ROOT / "notebooks"

CSS = """
.site-nav { display: flex; flex-wrap: wrap; gap: 0.4em 1.5em; justify-content: space-between;
  padding: 0.6em 0; margin: 0.5em 0; border-bottom: 1px solid #ddd;
  font: 15px/1.4 system-ui, sans-serif; }
.site-nav:last-child { border-bottom: 0; border-top: 1px solid #ddd; }
.site-nav a { text-decoration: none; }
img { max-width: 100%; height: auto; }
p, li, td { overflow-wrap: anywhere; }
/* Wide content scrolls in its own box rather than widening the page. */
.jp-OutputArea-output, .jp-RenderedHTMLCommon, .jp-InputArea-editor, pre { overflow-x: auto; }
table { display: block; overflow-x: auto; max-width: 100%; }
@media (max-width: 700px) {
  body.jp-Notebook { padding: 4px; }
  .jp-InputPrompt, .jp-OutputPrompt { display: none; }
}
"""

# Plain pages (the index, rendered docs) share the notebook pages' navigation bar and rules.
PLAIN_CSS = """
body { font: 16px/1.5 system-ui, sans-serif; max-width: 56em; margin: 0 auto; padding: 0 12px;
  color: #222; }
section { border-top: 1px solid #ddd; padding: 0.4em 0 0.8em; }
section h2 { font-size: 1.2em; margin: 0.6em 0 0.3em; }
.status { color: #555; }
.failed { color: #b00020; font-weight: bold; }
.metrics td { padding: 0 1em 0 0; font-variant-numeric: tabular-nums; }
code { background: #f4f4f4; padding: 0 2px; }
a.anchor-link { display: none; }  /* as on the notebook pages */
"""

# Pages extend nbconvert's lab template: the navigation bar above and below the notebook.
# MathJax and require.js (for widgets, whose state is dropped) would come from CDNs: left out.
PAGE_TEMPLATE = """{%- extends 'index.html.j2' -%}
{% block html_head_js_requirejs %}{% endblock html_head_js_requirejs %}
{% block html_head_js_mathjax %}{% endblock html_head_js_mathjax %}
{% block extra_css %}<style>{{ resources.site_css }}</style>{% endblock extra_css %}
{% block body_header %}{{ super() }}{{ resources.site_nav }}{% endblock body_header %}
{% block body_footer %}{{ resources.site_nav }}{{ super() }}{% endblock body_footer %}
"""

# A markdown link whose target is a relative path (not a URL, not an anchor of the same page).
RELATIVE_LINK = re.compile(r"\]\((?![a-z]+:|#)([^)\s#]+)(#[^)\s]*)?\)")
LOCAL_IMAGE = re.compile(r'(<img\b[^>]*?\bsrc=")(?![a-z]+:)([^"]+)(")')


@dataclass
class Page:
    """One notebook of the site: its executed copy and how its run went."""

    name: str  # the notebook's stem, e.g. 02_model
    executed: Path  # the executed copy of the notebook
    seconds: float
    error: str | None = None

    @property
    def file(self) -> str:
        return f"{self.name}.html"


def build(
    pages: list[Page], folder: Path, metrics: dict[str, dict], title: str = "glt tutorial"
) -> Path:
    """Write the site to `folder`, replacing what was there; returns the index page.

    One page per notebook, one per repository doc they link to, and index.html.
    """
    import nbformat

    shutil.rmtree(folder, ignore_errors=True)  # no stale page of an earlier run stays linked
    folder.mkdir(parents=True)
    summaries, docs = {}, set()
    for i, page in enumerate(pages):
        nb = nbformat.read(page.executed, as_version=4)
        summaries[page.name] = describe(nb)
        docs |= _link_to_site(nb)
        prev = pages[i - 1] if i else None
        next_ = pages[i + 1] if i + 1 < len(pages) else None
        _write_notebook_page(nb, folder / page.file, nav(prev, next_, depth=0))
    for doc in docs:
        _write_doc(doc, folder, title)
    index = folder / "index.html"
    index.write_text(_index(pages, summaries, metrics, title), encoding="utf-8")
    return index


def describe(nb) -> tuple[str, str]:
    """(title, what it teaches): the first markdown cell's heading and the paragraph after it."""
    first = next((c for c in nb.cells if c.cell_type == "markdown"), None)
    if first is None:
        return "", ""
    heading, _, rest = first.source.strip().partition("\n")
    paragraph = rest.strip().split("\n\n")[0]
    return heading.lstrip("# ").strip(), " ".join(paragraph.strip("*_ \n").split())


def nav(prev: Page | None, next_: Page | None, depth: int) -> str:
    """The navigation bar: previous notebook, the index, next notebook (links from `depth` folders down)."""
    up = "../" * depth
    links = [
        f"<a href='{up}{prev.file}' rel='prev'>← {html.escape(prev.name)}</a>" if prev else "<span></span>",
        f"<a href='{up}index.html'>Tutorial index</a>",
        f"<a href='{up}{next_.file}' rel='next'>{html.escape(next_.name)} →</a>" if next_ else "<span></span>",
    ]  # fmt: skip
    return f"<nav class='site-nav'>{''.join(links)}</nav>"


def _link_to_site(nb) -> set[Path]:
    """Point the markdown links to notebooks and repository docs at their pages in the site.

    Returns the repository's markdown files the notebook links to (they become pages).
    """
    docs = set()

    def replace(match: re.Match) -> str:
        target, anchor = (NOTEBOOKS / match[1]).resolve(), match[2] or ""
        if target.suffix == ".ipynb":
            return f"]({target.stem}.html{anchor})"
        if target.suffix == ".md" and target.is_file() and target.is_relative_to(REPO_ROOT):
            docs.add(target)
            return f"]({target.relative_to(REPO_ROOT).with_suffix('.html').as_posix()}{anchor})"
        return match[0]

    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = RELATIVE_LINK.sub(replace, cell.source)
    return docs


def _math_renderer(**options):
    """nbconvert's markdown renderer, writing the math as MathML instead of TeX for MathJax."""
    from latex2mathml.converter import convert
    from nbconvert.filters.markdown_mistune import IPythonRenderer

    class MathMLRenderer(IPythonRenderer):
        def inline_math(self, body: str) -> str:
            return convert(body)

        def block_math(self, body: str) -> str:
            return convert(body, display="block")

        def latex_environment(self, name: str, body: str) -> str:
            return convert(f"\\begin{{{name}}}{body}\\end{{{name}}}", display="block")

    return MathMLRenderer(escape=False, **options)


def markdown_to_html(text: str, **options) -> str:
    """Markdown as the site renders it: nbconvert's flavour (math included) with MathML;
    `options` go to nbconvert's renderer (a cell's attachments, anchor links...)."""
    from nbconvert.filters.markdown_mistune import MarkdownWithMath

    return MarkdownWithMath(renderer=_math_renderer(**options)).render(text)


def _exporter(**kwargs):
    """nbconvert's HTMLExporter whose markdown cells render their math as MathML."""
    from jinja2 import pass_context
    from nbconvert import HTMLExporter

    class SiteExporter(HTMLExporter):
        @pass_context  # as HTMLExporter's: the template passes the cell in the context
        def markdown2html(self, context, source):
            return markdown_to_html(
                source,
                attachments=context.get("cell", {}).get("attachments", {}),
                embed_images=self.embed_images,
                path=context.get("resources", {}).get("metadata", {}).get("path", ""),
                anchor_link_text=self.anchor_link_text,
                exclude_anchor_links=self.exclude_anchor_links,
                **self.lexer_options,
            )

    return SiteExporter(**kwargs)


def _write_notebook_page(nb, path: Path, navigation: str) -> None:
    from jinja2 import DictLoader
    from traitlets.config import Config

    # Progress bars print many updates; coalescing shows each bar once, as Jupyter does.
    config = Config({"CoalesceStreamsPreprocessor": {"enabled": True}})
    exporter = _exporter(
        config=config,
        extra_loaders=[DictLoader({"site-page.html.j2": PAGE_TEMPLATE})],
        template_file="site-page.html.j2",
    )
    # Without the widgets' saved state, nbconvert shows each widget's static fallback (a
    # progress bar's text, an explorer's PNG) and loads no widget renderer from the network.
    nb.metadata.pop("widgets", None)
    body, _ = exporter.from_notebook_node(
        nb, resources={"site_css": CSS, "site_nav": navigation, "metadata": {"name": path.stem}}
    )
    path.write_text(body, encoding="utf-8")


def _write_doc(source: Path, folder: Path, title: str) -> None:
    relative = source.relative_to(REPO_ROOT).with_suffix(".html")
    page = folder / relative
    page.parent.mkdir(parents=True, exist_ok=True)
    body = embed_images(markdown_to_html(source.read_text(encoding="utf-8")), source.parent)
    navigation = nav(None, None, depth=len(relative.parts) - 1)
    page.write_text(_plain_page(f"{source.name} · {title}", navigation + body), encoding="utf-8")


def embed_images(body: str, base: Path) -> str:
    """Inline the local images of an HTML fragment as data URIs, so the page needs no sibling files.

    Paths are relative to `base` (the markdown file's folder). A missing image is left as it
    is, for the browser check to report.
    """

    def replace(match: re.Match) -> str:
        image = base / unquote(html.unescape(match[2]))
        if not image.is_file():
            return match[0]
        mime = mimetypes.guess_type(image.name)[0] or "application/octet-stream"
        data = base64.b64encode(image.read_bytes()).decode("ascii")
        return f"{match[1]}data:{mime};base64,{data}{match[3]}"

    return LOCAL_IMAGE.sub(replace, body)


def _index(pages: list[Page], summaries: dict, metrics: dict[str, dict], title: str) -> str:
    sections = []
    for page in pages:
        heading, teaches = summaries[page.name]
        status = (
            f"<span class='failed'>failed: {html.escape(page.error)}</span>" if page.error else "ok"
        )
        numbers = "" if page.error else _metrics_table(metrics.get(page.name, {}))
        sections.append(
            f"<section id='{page.name}'><h2><a href='{page.file}'>{html.escape(heading or page.name)}</a></h2>"
            f"<p>{html.escape(teaches)}</p>"
            f"<p class='status'>{status} · ran in {page.seconds:.0f} s</p>{numbers}</section>"
        )
    return _plain_page(title, f"<h1>{html.escape(title)}</h1>{''.join(sections)}")


def _metrics_table(metrics: dict) -> str:
    if not metrics:
        return ""
    rows = "".join(
        f"<tr><td><code>{html.escape(k)}</code></td><td>{html.escape(_number(v))}</td></tr>"
        for k, v in metrics.items()
    )
    return f"<details open><summary>Key numbers</summary><table class='metrics'>{rows}</table></details>"


def _number(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _plain_page(title: str, body: str) -> str:
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{html.escape(title)}</title><style>{CSS}{PLAIN_CSS}</style></head>"
        f"<body>{body}</body></html>"
    )
