"""The tutorial's report site (glt.site), built from two small executed notebooks.

The stubs carry what the real notebooks produce: a figure, a matplotlib JavaScript animation
(as `glt.viz.animation_html` shows it),
a link to docs/method.md and one to the next notebook. The browser checks (site_check.py) run
here on the stub and in test_notebooks.py on the executed tutorial.
"""

from __future__ import annotations

import base64
import io
import os

import matplotlib.pyplot as plt
import nbformat
import pytest
from matplotlib.animation import FuncAnimation
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output
from site_check import check_site

from glt import site, tutorial, viz


def _figure_outputs():
    fig, ax = plt.subplots(figsize=(2, 1.5))
    (line,) = ax.plot([0, 1], [0, 1])
    png = io.BytesIO()
    fig.savefig(png, format="png")
    anim = FuncAnimation(fig, lambda i: line.set_ydata([0, i]), frames=3)
    animation = viz.animation_html(anim)
    plt.close(fig)
    return [
        new_output("display_data", {"image/png": base64.b64encode(png.getvalue()).decode()}),
        new_output("execute_result", {"text/html": animation, "text/plain": "<IPython.HTML>"}),
    ]


def _notebook(path, title, teaches, body, outputs=()):
    nb = new_notebook(
        cells=[
            new_markdown_cell(f"# {title}\n\n*{teaches}*\n\n**What you will learn**\n\n- things"),
            new_markdown_cell(body),
            new_code_cell("show()", outputs=list(outputs)),
        ]
    )
    nbformat.write(nb, path)
    return path


@pytest.fixture(scope="module")
def stub_site(tmp_path_factory):
    root = tmp_path_factory.mktemp("tutorial")
    executed, folder = root / "executed", root / "html"
    executed.mkdir()
    first = _notebook(
        executed / "01_first.ipynb", "01 · First steps", "Read a clip, then animate it.",
        "The method: [method §2](../docs/method.md); next: [02](02_second.ipynb#Second-steps). "
        "Features $P_b \\in \\mathbb{R}^{T \\times J \\times D}$; `$GLT_RUNS` stays code.",
        _figure_outputs(),
    )  # fmt: skip
    second = _notebook(
        executed / "02_second.ipynb", "Second steps", "Train it.", "[top](#Second-steps)"
    )
    pages = [
        site.Page("01_first", first, 12.4),
        site.Page("02_second", second, 3.0, "ValueError: x"),
    ]
    metrics = {"01_first": {"num_clips": 840, "top1": 31.25678, "preset": "tiny"}}
    site.build(pages, folder, metrics, "stub tutorial")
    return folder, executed


def test_index_lists_the_notebooks_in_order_with_summary_status_time_and_metrics(stub_site):
    index = (stub_site[0] / "index.html").read_text()
    assert index.index("href='01_first.html'") < index.index("href='02_second.html'")
    assert "01 · First steps" in index and "Read a clip, then animate it." in index
    assert "ok · ran in 12 s" in index and "failed: ValueError: x" in index
    assert "<code>top1</code></td><td>31.26</td>" in index and "840" in index
    assert "name='viewport'" in index


def test_pages_link_to_their_neighbours_the_index_and_the_docs(stub_site):
    folder = stub_site[0]
    first, second = (folder / "01_first.html").read_text(), (folder / "02_second.html").read_text()
    assert 'rel="next"' in first and 'rel="prev"' not in first
    assert (
        'href="02_second.html" rel="next"' in first and 'href="01_first.html" rel="prev"' in second
    )
    assert first.count('href="index.html"') == 2  # navigation above and below the notebook
    assert 'href="docs/method.html"' in first and 'href="02_second.html#Second-steps"' in first
    assert "method" in (folder / "docs" / "method.html").read_text()
    assert 'class="animation"' in first and "data:image/png;base64" in first
    # Math as MathML, animation buttons as text: nothing from a CDN.
    assert first.count("<math ") == 1 and "<code>$GLT_RUNS</code>" in first
    assert "mathjax" not in first.lower() and "require.min.js" not in first
    assert "font-awesome" not in first and 'href="https://' not in first


def test_doc_pages_embed_the_images_they_show(tmp_path):
    (tmp_path / "fig dir").mkdir()
    png = _figure_outputs()[0]["data"]["image/png"]
    (tmp_path / "fig dir" / "a.png").write_bytes(base64.b64decode(png))
    body = (
        '<img src="fig%20dir/a.png" alt="a" /><img src="gone.png" /><img src="https://x/b.png" />'
    )
    embedded = site.embed_images(body, tmp_path)
    assert f'src="data:image/png;base64,{png}"' in embedded
    assert 'src="gone.png"' in embedded and 'src="https://x/b.png"' in embedded  # left as they were


def test_describe_reads_the_title_and_the_first_paragraph():
    nb = new_notebook(
        cells=[new_markdown_cell("# 04 · Linear\n\nFreeze the\nencoder.\n\n**More**")]
    )
    assert site.describe(nb) == ("04 · Linear", "Freeze the encoder.")


def test_stub_site_reads_well_in_a_browser(stub_site, browser):
    folder, executed = stub_site
    assert check_site(browser, folder, executed) == []
    shots = sorted(p.name for p in (folder / "screenshots").glob("*.png"))
    assert shots == ["01_first.png", "02_second.png", "docs-method.png", "index.png"]


def test_browser_check_reports_what_is_broken(tmp_path, browser):
    (tmp_path / "page.html").write_text(
        "<!doctype html><meta name='viewport' content='width=device-width'>"
        "<a href='gone.html'>gone</a><a href='#nowhere'>anchor</a><img src='missing.png'>"
        "<div style='width:3000px'>wide</div><script>undefinedFunction()</script>"
        "<script src='https://cdn.example.org/mathjax.js'></script>"
        "<link rel='stylesheet' href='https://cdn.example.org/icons.css'>"
        "<math style='display:none'><mi>x</mi></math><math><mi>y</mi></math>"
    )
    (tmp_path / "page.ipynb").write_text(
        nbformat.writes(new_notebook(cells=[new_code_cell("", outputs=_figure_outputs() * 2)]))
    )
    problems = "\n".join(check_site(browser, tmp_path, tmp_path))
    for expected in (
        "console error", "image not loaded", "wider than", "1 images for 2 figure outputs",
        "animation elements [] for 2", "missing file: gone.html", "missing anchor: #nowhere",
        "loads from the network: https://cdn.example.org/mathjax.js", "1 math elements not drawn",
        "loads from the network: https://cdn.example.org/icons.css",
    ):  # fmt: skip
        assert expected in problems, problems


def test_kernels_get_the_inline_backend_whatever_the_environment_says(monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")
    with tutorial.inline_figures():
        assert "MPLBACKEND" not in os.environ  # ipykernel then chooses its inline backend
    assert os.environ["MPLBACKEND"] == "Agg"


def test_the_tutorial_gives_the_notebooks_an_absolute_work_folder(tmp_path, monkeypatch):
    # The notebooks run in notebooks/: a relative GLT_RUNS must not land their work there.
    import papermill

    given = {}

    def execute(source, executed, parameters, **kwargs):
        given.update(parameters)
        nbformat.write(new_notebook(cells=[new_markdown_cell("# 01 · Stub")]), executed)

    monkeypatch.setattr(papermill, "execute_notebook", execute)
    monkeypatch.setattr(tutorial, "notebooks", lambda only: [tutorial.NOTEBOOKS / "01_data.ipynb"])
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GLT_RUNS", "relative")
    tutorial.run("default")
    assert given["WORK_DIR"] == str(tmp_path / "relative" / "tutorial-default" / "work")
    assert (tmp_path / "relative" / "tutorial-default" / "html" / "index.html").is_file()


def test_without_the_notebooks_the_tutorial_says_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.setattr(tutorial, "NOTEBOOKS", tmp_path)
    with pytest.raises(SystemExit, match="no notebooks in .*: run the tutorial from a clone"):
        tutorial.notebooks()
