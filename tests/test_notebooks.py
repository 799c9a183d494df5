"""The tutorial notebooks: their shape (static checks) and a full papermill run with CI parameters.

The run executes notebooks 01-07 in order with notebooks/params/ci.yaml, writing the executed
copies and the HTML report to runs/tutorial-ci/ (gitignored), then checks the metrics each
notebook saved (finite losses, accuracies above chance, the pretrained encoder above a random
one) and opens the report in headless Chromium (site_check.py; screenshots in html/screenshots).
Notebook 07 needs NW-UCLA, which CI has in ../shared; it also runs once without it. Notebook 03
trains the run that glt ships (glt.shipped), and CI checks that it trains the same encoder.
"""

from __future__ import annotations

import ast
import json
import math
import os
import warnings

import pytest
from conftest import require
from site_check import check_site, expected_outputs

from glt import shipped, site, tutorial, workspace
from glt.data.store import fingerprint
from glt.paths import nwucla_dir, runs_dir
from glt.run import load_config, load_metrics

NOTEBOOKS = tutorial.notebooks()
NW_UCLA = "07_nw_ucla"


def _cells(path):
    return json.loads(path.read_text())["cells"]


def test_there_are_seven_numbered_notebooks():
    assert [p.stem[:2] for p in NOTEBOOKS] == ["01", "02", "03", "04", "05", "06", "07"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_committed_clean_with_one_parameters_cell(path):
    cells = _cells(path)
    code = [c for c in cells if c["cell_type"] == "code"]
    assert all(not c.get("outputs") and not c.get("execution_count") for c in code)
    params = [c for c in code if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(params) == 1, "exactly one cell tagged `parameters`"
    tree = ast.parse("".join(params[0]["source"]))
    names = []
    for node in tree.body:  # only `NAME: type = literal` lines
        assert isinstance(node, ast.AnnAssign), ast.unparse(node)
        assert node.target.id.isupper(), node.target.id
        ast.literal_eval(node.value)
        names.append(node.target.id)
    assert "WORK_DIR" in names
    assert cells[0]["cell_type"] == "markdown" and "".join(cells[0]["source"]).startswith("# ")


def test_a_classroom_is_every_notebook_with_defaults_and_a_readme(tmp_path, monkeypatch):
    calls = []

    def run(profile, out, work):  # records what the notebooks would run with
        calls.append((profile, out, work, os.environ.get("GLT_CLASSROOM")))
        (out / "executed").mkdir(parents=True)
        return [site.Page("01_data", out / "executed" / "01_data.ipynb", 1.0, None)]

    monkeypatch.setattr(tutorial, "run", run)
    monkeypatch.setenv("GLT_CLASSROOM", str(tmp_path / "an-older-classroom"))
    assert tutorial.main(["--classroom", str(tmp_path / "class")]) == 0
    folder = (tmp_path / "class").resolve()
    assert calls == [("default", folder, folder / "work", None)]
    assert os.environ["GLT_CLASSROOM"] == str(tmp_path / "an-older-classroom")
    assert f"export GLT_CLASSROOM={folder / 'work'}" in (folder / "README.txt").read_text()
    with pytest.raises(SystemExit):
        tutorial.main(["--classroom", str(tmp_path / "class"), "--profile", "ci"])


def _finite_numbers(d, where=""):
    for k, v in d.items():
        if isinstance(v, dict):
            yield from _finite_numbers(v, f"{where}{k}.")
        elif isinstance(v, float):
            yield f"{where}{k}", v


@pytest.fixture(scope="module")
def ci_tutorial():
    """The tutorial's output folder after a run with the CI parameters."""
    out = runs_dir() / "tutorial-ci"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GLT_NWUCLA", str(ci_nw_ucla_dir()))  # the kernels inherit it
        runs = tutorial.run("ci", out=out, work=out / "work")
    failed = [r for r in runs if r.error]
    assert not failed, f"{failed[0].name} failed: {failed[0].error} (see {failed[0].executed})"
    assert (out / "html" / "index.html").is_file()
    return out


@pytest.fixture(scope="module")
def ci_metrics(ci_tutorial):
    return workspace.load_notebook_metrics(ci_tutorial / "work")


def ci_nw_ucla_dir():
    """The NW-UCLA folder notebooks 06 and 07 get in the CI run (`GLT_NWUCLA`): the shared copy;
    without it notebook 07 saves no metrics."""
    return nwucla_dir()


@pytest.mark.notebooks
def test_every_notebook_ran_and_saved_finite_metrics(ci_metrics):
    with_data = ci_nw_ucla_dir().exists()
    assert sorted(ci_metrics) == [p.stem for p in NOTEBOOKS if p.stem != NW_UCLA or with_data]
    for name, metrics in ci_metrics.items():
        for key, value in _finite_numbers(metrics, f"{name}."):
            assert math.isfinite(value), key


@pytest.mark.notebooks
def test_linear_evaluation_is_above_chance_and_pretraining_beats_random(ci_metrics):
    m = ci_metrics["04_linear_evaluation"]
    assert m["random_top1"] > m["chance"] and m["knn_top1"] > m["chance"]
    assert m["pretrained_top1"] > m["random_top1"], m
    # A random encoder (zero positional embeddings) cannot see the order of the frames.
    assert m["random_reversal_change"] < 1e-4 < m["pretrained_reversal_change"], m


# Notebook 03's run against the shipped one. Computed with the same arithmetic (CPU type, thread
# count, torch), CPU training repeats bit for bit: every logged loss and every weight is equal.
# With other rounding (measured: 1 thread instead of 2 on the 2-core machine that made it) the
# losses agree to 2e-7 relative for the first 200 steps, then the runs part ways: after 960
# steps the weights differ by up to 0.33 and the last epoch's loss by 0.5 %. There only the
# start of the run can be held equal: to the last bits, for EARLY_STEPS steps.
EARLY_STEPS = 100
LAST_BITS = 1e-5  # relative; the measured 2e-7 is one or two float32 roundings


@pytest.mark.notebooks
def test_notebook_03_trains_the_shipped_encoder_again(ci_tutorial):
    profile = tutorial.load_profile("ci")
    assert "03_pretraining" not in profile and "all" not in profile, (
        "CI must run notebook 03 with its default parameters, those of the shipped run"
    )
    run = ci_tutorial / "work" / "runs" / "pretrain-tiny"
    if not run.exists():
        pytest.skip("notebook 03 chose another preset than the shipped run's tiny (a GPU)")
    assert fingerprint(load_config(run).data) == shipped.record()["data"]["fingerprint"]
    ours, theirs = ({r["step"]: r["loss"] for r in load_metrics(folder, kind="step")}
                    for folder in (run, shipped.FOLDER))  # fmt: skip
    assert ours.keys() == theirs.keys()
    difference = shipped.distance(run)
    remake = f"remake it with `python -m glt.shipped {run}` if the training changed on purpose"
    if ours == theirs:  # the same arithmetic
        assert difference == 0.0, f"equal losses but weights up to {difference:.3g} apart"
        return
    early = max(abs(ours[s] - theirs[s]) / theirs[s] for s in ours if s <= EARLY_STEPS)
    assert early <= LAST_BITS, (
        f"notebook 03's first {EARLY_STEPS} steps differ from the shipped run's by up to "
        f"{early:.2g} relative (more than rounding: {LAST_BITS:g}), its encoder's weights by up "
        f"to {difference:.3g}; {remake}"
    )
    warnings.warn(
        f"notebook 03 ran with other rounding than the shipped run (CPU type or thread count): "
        f"its first {EARLY_STEPS} steps agree to {early:.2g} relative, its encoder's weights "
        f"differ by up to {difference:.3g}",
        stacklevel=1,
    )


@pytest.mark.notebooks
def test_nw_ucla_linear_evaluation_is_above_chance(ci_metrics):
    require(ci_nw_ucla_dir(), "NW-UCLA")
    m = ci_metrics[NW_UCLA]
    assert m["num_train"] > 0 and m["num_test"] > 0 and m["pretrain_epochs"] >= 1
    assert m["random_top1"] > m["chance"] and m["pretrained_top1"] > m["chance"], m
    assert m["longest_clip"] <= 300  # the model's length cap cuts nothing


@pytest.mark.notebooks
def test_nw_ucla_without_the_data_explains_how_to_get_it_and_ends_cleanly(tmp_path):
    import papermill as pm

    executed = tmp_path / f"{NW_UCLA}.ipynb"
    values = {"WORK_DIR": str(tmp_path / "work"), "NWUCLA_DIR": str(tmp_path / "absent")}
    with tutorial.inline_figures():
        pm.execute_notebook(
            str(tutorial.NOTEBOOKS / f"{NW_UCLA}.ipynb"), str(executed), parameters=values,
            kernel_name=tutorial.kernel_name(), cwd=str(tutorial.NOTEBOOKS), progress_bar=False,
        )  # fmt: skip
    text = json.dumps(json.loads(executed.read_text())["cells"])
    assert "NW-UCLA is not here" in text and "data/README.md" in text
    assert expected_outputs(executed) == (0, 0)  # no figure, no animation
    assert not (tmp_path / "work" / "metrics").exists()


@pytest.mark.notebooks
def test_every_notebook_shows_figures_and_01_an_animation(ci_tutorial):
    # Figures reach the executed notebooks only through the inline backend (not CI's Agg).
    shown = {
        p.stem: expected_outputs(p) for p in sorted((ci_tutorial / "executed").glob("*.ipynb"))
    }
    assert all(figures > 0 for figures, _ in shown.values()), shown
    assert shown["01_data"][1] >= 1, shown


@pytest.mark.notebooks
def test_report_reads_well_in_a_browser(ci_tutorial, browser):
    problems = check_site(browser, ci_tutorial / "html", ci_tutorial / "executed")
    assert not problems, "\n".join(problems)
