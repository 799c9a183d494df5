"""Run the tutorial notebooks end to end with papermill and export an HTML report.

    python -m glt.tutorial                      # every notebook, its default parameters
    python -m glt.tutorial --profile ci         # small overrides from notebooks/params/ci.yaml
    python -m glt.tutorial --only 01 03         # a subset, by number
    python -m glt.tutorial --classroom DIR      # a teacher's folder that students read

Executed notebooks go to OUT/executed/ and every notebook writes its key numbers to
WORK/metrics/<notebook>.json; OUT/html/ is the report, a small site (glt.site): an index with
each notebook's status, run time and key numbers, and one page per notebook. OUT defaults to
runs/tutorial-<profile> (under `$GLT_RUNS` if set).

A classroom folder DIR is the run of every notebook with its default parameters, OUT = DIR and
WORK = DIR/work, and DIR/README.txt saying what students set: `GLT_CLASSROOM=DIR/work`, whose
data and pretraining runs their notebooks then read in place (`glt.workspace`).

Notebook 07 runs on the real NW-UCLA recordings when it finds them: its parameter NWUCLA_DIR
(the ci profile points it at ../shared/data/nw-ucla), else `$GLT_NWUCLA`, else `data/nw-ucla`
in the repository (`glt.workspace.nwucla_recordings`); without them it says how to obtain them
and ends.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from glt import site, workspace
from glt.paths import REPO_ROOT, runs_dir

NOTEBOOKS = REPO_ROOT / "notebooks"
KERNEL = "glt"  # installed into the virtual environment by `make setup`


def notebooks(only: list[str] | None = None) -> list[Path]:
    """The numbered notebooks in order, or those whose number or name is in `only`."""
    found = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    if not found:  # e.g. glt installed from a wheel: the notebooks live in the repository
        raise SystemExit(f"no notebooks in {NOTEBOOKS}: run the tutorial from a clone of glt")
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


@contextmanager
def unset_environment(name: str) -> Iterator[None]:
    """Remove the environment variable `name` for the block (kernels started in it inherit the
    environment), then restore it."""
    saved = os.environ.pop(name, None)
    try:
        yield
    finally:
        if saved is not None:
            os.environ[name] = saved


def inline_figures() -> AbstractContextManager[None]:
    """Let kernels started here choose Jupyter's inline backend.

    Kernels inherit the environment, and a non-interactive MPLBACKEND (CI sets Agg) would keep
    every figure out of the executed notebooks and the report.
    """
    return unset_environment("MPLBACKEND")


def run(
    profile: str = "default",
    out: Path | None = None,
    only: list[str] | None = None,
    work: Path | None = None,
) -> list[site.Page]:
    """Execute the notebooks in order, stop at the first that fails, and write the report.

    Returns what ran.
    """
    import papermill as pm

    # Absolute: the notebooks run with notebooks/ as their working directory.
    out = Path(out or runs_dir() / f"tutorial-{profile}").resolve()
    work = Path(work).resolve() if work else out / "work"
    params = load_profile(profile)
    (out / "executed").mkdir(parents=True, exist_ok=True)
    kernel = kernel_name()
    runs: list[site.Page] = []
    for nb in notebooks(only):
        values = {"WORK_DIR": str(work), **params.get("all", {}), **params.get(nb.stem, {})}
        executed = out / "executed" / nb.name
        print(f"[{len(runs) + 1}] {nb.name} ...", flush=True)
        start = time.perf_counter()
        error = None
        try:
            with inline_figures():
                pm.execute_notebook(
                    str(nb), str(executed), parameters=values, kernel_name=kernel,
                    cwd=str(NOTEBOOKS), progress_bar=False,
                )  # fmt: skip
        except pm.PapermillExecutionError as e:
            error = f"{e.ename}: {e.evalue}"
        seconds = time.perf_counter() - start
        runs.append(site.Page(nb.stem, executed, seconds, error))
        print(
            f"    {'FAILED' if error else 'ok'} in {seconds:.0f} s"
            + (f": {error}" if error else "")
        )
        if error:
            break
    pages = [r for r in runs if r.executed.exists()]
    title = f"glt tutorial ({profile} parameters)"
    site.build(pages, out / "html", workspace.load_notebook_metrics(work), title)
    return runs


CLASSROOM_README = """\
A glt classroom: every tutorial notebook run once with its default parameters
(python -m glt.tutorial --classroom), so that students need not make the data or
wait for the pretraining.

  work/       the synthetic data, the pretraining run and each notebook's numbers
  executed/   the notebooks as they ran here
  html/       the report: open html/index.html

Students keep their own work folder and set, before starting Jupyter:

    export GLT_CLASSROOM={work}

(or, in a notebook before the first glt call: os.environ["GLT_CLASSROOM"] = "{work}").
The notebooks then read this folder's data and pretraining run in place wherever their
settings are the ones used here (the defaults), and write their figures, numbers and
anything else into the student's own work folder. Nothing here is written after this
run: the folder may be made read-only (chmod -R a-w), and copied or mounted elsewhere
(then give GLT_CLASSROOM its new path).
"""


def make_classroom(folder: Path) -> list[site.Page]:
    """Run every notebook with its default parameters into `folder` (OUT, with WORK = folder/work),
    then write folder/README.txt. Another classroom that `$GLT_CLASSROOM` names is not used: the
    new one holds everything its students read."""
    folder = Path(folder).resolve()
    with unset_environment("GLT_CLASSROOM"):
        runs = run("default", out=folder, work=folder / "work")
    (folder / "README.txt").write_text(CLASSROOM_README.format(work=folder / "work"))
    return runs


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
    parser.add_argument(
        "--classroom", type=Path, metavar="DIR",
        help="prepare a classroom folder (every notebook, default parameters; see DIR/README.txt)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.classroom and (args.out or args.work or args.only or args.profile != "default"):
        parser.error("--classroom runs every notebook with the default parameters into DIR alone")
    if args.classroom:
        runs = make_classroom(args.classroom)
    else:
        runs = run(args.profile, args.out, args.only, args.work)
    out = runs[0].executed.parent.parent if runs else args.out
    print(f"\nExecuted notebooks: {out / 'executed'}")
    print(f"HTML report:        {out / 'html' / 'index.html'}")
    failed = [r for r in runs if r.error]
    if failed:
        print(f"{failed[0].name} failed; see its executed copy for the traceback.", file=sys.stderr)
        return 1
    if args.classroom:
        print(f"Students set:       GLT_CLASSROOM={out / 'work'} (see {out / 'README.txt'})")
    print(json.dumps({r.name: round(r.seconds, 1) for r in runs}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
