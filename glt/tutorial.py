"""Run the tutorial notebooks end to end with papermill and export an HTML report.

    python -m glt.tutorial                      # every notebook, its default parameters
    python -m glt.tutorial --profile ci         # small overrides from notebooks/params/ci.yaml
    python -m glt.tutorial --only 01 03         # a subset, by number

Executed notebooks go to OUT/executed/, their HTML to OUT/html/ with an index page, and every
notebook writes its key numbers to WORK/metrics/<notebook>.json. OUT defaults to
runs/tutorial-<profile> (under `$GLT_RUNS` if set).
"""

from __future__ import annotations

import argparse
import html
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from glt.paths import REPO_ROOT, runs_dir

NOTEBOOKS = REPO_ROOT / "notebooks"
KERNEL = "glt"  # installed into the virtual environment by `make setup`


@dataclass
class NotebookRun:
    name: str
    seconds: float
    executed: Path
    html: Path | None
    error: str | None = None


def notebooks(only: list[str] | None = None) -> list[Path]:
    """The numbered notebooks in order, or those whose number or name is in `only`."""
    found = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    if only:
        found = [p for p in found if p.stem[:2] in only or p.stem in only]
        if not found:
            raise SystemExit(f"no notebook matches {only}")
    return found


def load_profile(profile: str) -> dict[str, dict]:
    """Per-notebook parameter overrides: notebooks/params/<profile>.yaml ('default': none).

    The file maps a notebook's stem (or `all`) to {PARAMETER: value}.
    """
    if profile == "default":
        return {}
    import yaml

    path = NOTEBOOKS / "params" / f"{profile}.yaml"
    if not path.is_file():
        choices = sorted(p.stem for p in (NOTEBOOKS / "params").glob("*.yaml"))
        raise SystemExit(
            f"no parameter profile {profile!r}; choose from default, {', '.join(choices)}"
        )
    return yaml.safe_load(path.read_text()) or {}


def kernel_name() -> str:
    """The project's kernel if installed, else the interpreter running this module."""
    from jupyter_client.kernelspec import KernelSpecManager

    return KERNEL if KERNEL in KernelSpecManager().find_kernel_specs() else "python3"


def run(
    profile: str = "default",
    out: Path | None = None,
    only: list[str] | None = None,
    work: Path | None = None,
) -> list[NotebookRun]:
    """Execute the notebooks in order; stop at the first that fails. Returns what ran."""
    import papermill as pm

    # Absolute: the notebooks run with notebooks/ as their working directory.
    out = Path(out).resolve() if out else runs_dir() / f"tutorial-{profile}"
    work = Path(work).resolve() if work else out / "work"
    params = load_profile(profile)
    (out / "executed").mkdir(parents=True, exist_ok=True)
    (out / "html").mkdir(parents=True, exist_ok=True)
    kernel = kernel_name()
    runs: list[NotebookRun] = []
    for nb in notebooks(only):
        values = {"WORK_DIR": str(work), **params.get("all", {}), **params.get(nb.stem, {})}
        executed = out / "executed" / nb.name
        print(f"[{len(runs) + 1}] {nb.name} ...", flush=True)
        start = time.perf_counter()
        error = None
        try:
            pm.execute_notebook(
                str(nb), str(executed), parameters=values, kernel_name=kernel,
                cwd=str(NOTEBOOKS), progress_bar=False,
            )  # fmt: skip
        except pm.PapermillExecutionError as e:
            error = f"{e.ename}: {e.evalue}"
        seconds = time.perf_counter() - start
        page = export_html(executed, out / "html") if executed.exists() else None
        runs.append(NotebookRun(nb.stem, seconds, executed, page, error))
        print(
            f"    {'FAILED' if error else 'ok'} in {seconds:.0f} s"
            + (f": {error}" if error else "")
        )
        if error:
            break
    write_index(runs, out / "html" / "index.html", profile)
    return runs


def export_html(notebook: Path, folder: Path) -> Path:
    from nbconvert import HTMLExporter
    from traitlets.config import Config

    # Progress bars print many updates; coalescing shows each bar once, as Jupyter does.
    config = Config({"CoalesceStreamsPreprocessor": {"enabled": True}})
    body, _ = HTMLExporter(config=config).from_filename(str(notebook))
    page = folder / f"{notebook.stem}.html"
    page.write_text(body, encoding="utf-8")
    return page


def write_index(runs: list[NotebookRun], path: Path, profile: str) -> None:
    rows = "\n".join(
        f"<tr><td><a href='{r.html.name if r.html else '#'}'>{html.escape(r.name)}</a></td>"
        f"<td>{'failed: ' + html.escape(r.error) if r.error else 'ok'}</td><td>{r.seconds:.0f} s</td></tr>"
        for r in runs
    )
    path.write_text(
        "<!doctype html><meta charset='utf-8'><title>glt tutorial</title>"
        f"<h1>glt tutorial ({html.escape(profile)} parameters)</h1>"
        f"<table border=1 cellpadding=6><tr><th>notebook</th><th>status</th><th>time</th></tr>{rows}</table>",
        encoding="utf-8",
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m glt.tutorial", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--profile", default="default", help="parameter profile in notebooks/params (default: none)"
    )
    parser.add_argument("--out", type=Path, help="where executed notebooks and the HTML report go")
    parser.add_argument(
        "--work", type=Path, help="where data, runs and metrics go (default OUT/work)"
    )
    parser.add_argument("--only", nargs="*", help="notebook numbers or names to run")
    args = parser.parse_args(argv)
    runs = run(args.profile, args.out, args.only, args.work)
    out = runs[0].executed.parent.parent if runs else args.out
    print(f"\nExecuted notebooks: {out / 'executed'}")
    print(f"HTML report:        {out / 'html' / 'index.html'}")
    failed = [r for r in runs if r.error]
    if failed:
        print(f"{failed[0].name} failed; see its executed copy for the traceback.", file=sys.stderr)
        return 1
    print(json.dumps({r.name: round(r.seconds, 1) for r in runs}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
