"""Tests for glt.ablations: supplementary Tables A and B end to end on a toy dataset (one
pretraining epoch, three epochs of linear evaluation, a one-block tiny model), the clips each row
pretrains and evaluates on, reuse of finished rows, and the table files and figure."""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path
from types import SimpleNamespace

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from conftest import TOY
from matplotlib.figure import Figure

from glt import ablations as A
from glt import viz
from glt.commands import main
from glt.data.augment import resample
from glt.data.resampled import ResampledDataset
from glt.data.store import PreparedDataset, open_dataset, write_dataset
from glt.errors import GLTError
from glt.results import read_table
from glt.run import load_config, load_metrics

# The smallest settings that still run every step: 12 train clips in one batch of one epoch.
SETTINGS = dict(
    preset="tiny",
    epochs=1,
    batch_size=12,
    eval_epochs=3,
    model={"depth": 1},
    device="cpu",
    progress=False,
)
CLI_SETTINGS = ["--preset", "tiny", "--epochs", "1", "--batch-size", "12", "--eval-epochs", "3"]
CLI_SETTINGS += ["--model", "depth=1", "--device", "cpu", "--quiet"]

# method §6 (supplementary Tables A and B): (xsub, xview) per row, in the published order.
PAPER_A = {"resample150": (75.1, 80.2), "resample300": (73.2, 79.0), "natural": (76.3, 83.8)}
PAPER_B = {
    "corrupt00": (76.3, 83.8),
    "corrupt05": (75.7, 82.5),
    "corrupt10": (74.2, 81.2),
    "corrupt15": (73.7, 79.9),
    "corrupt20": (72.4, 79.0),
}


def write_toy(path: Path) -> Path:
    """18 clips of 10-19 frames (12 train, 6 val), 3 classes: class c lifts the head by 0.3 c
    and swings the left hand c + 1 times."""
    rng = np.random.default_rng(0)
    clips, labels = [], []
    for i in range(18):
        c, t = i % 3, int(rng.integers(10, 20))
        x = rng.normal(0, 0.05, (t, 1, 5, 3)).astype(np.float32)
        x[:, 0, 4, 1] += 0.3 * c
        x[:, 0, 2, 0] += 0.2 * np.sin(2 * np.pi * (c + 1) * np.arange(t) / t)
        clips.append(x)
        labels.append(c)
    splits = ["train"] * 12 + ["val"] * 6
    return write_dataset(path, clips, labels, splits, TOY, preprocessed=True)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return write_toy(tmp_path_factory.mktemp("ablations") / "toy")


@pytest.fixture(scope="module")
def done(data, tmp_path_factory):
    """Tables A and B run once (B after A), with spies on what each step was given."""
    out = tmp_path_factory.mktemp("ablations") / "out"
    calls = []  # one per pretrained row: pretraining folder, evaluation dataset and options

    def spy_pretrain(data_dir, run_dir, preset, **kw):
        calls.append(SimpleNamespace(run_dir=Path(run_dir), pretrain=kw))
        return real_pretrain(data_dir, run_dir, preset, **kw)

    def spy_eval(encoder, dataset, **kw):
        calls[-1].dataset, calls[-1].eval = dataset, kw
        return real_eval(encoder, dataset, **kw)

    real_pretrain, real_eval = A.pretrain, A.linear_eval
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(A, "pretrain", spy_pretrain)
        mp.setattr(A, "linear_eval", spy_eval)
        rows_a = A.run_table_a(data, out, **SETTINGS)
        rows_b = A.run_table_b(data, out, **SETTINGS)
    return SimpleNamespace(
        out=out, a=rows_a, b=rows_b, calls={c.run_dir.parent.name: c for c in calls}
    )


@pytest.fixture
def no_training(monkeypatch):
    """Fail if anything is pretrained or evaluated."""

    def fail(*args, **kwargs):
        raise AssertionError("a finished row was computed again")

    monkeypatch.setattr(A, "pretrain", fail)
    monkeypatch.setattr(A, "linear_eval", fail)


def result_mtimes(out: Path) -> dict:
    return {p: p.stat().st_mtime_ns for p in sorted(out.glob("table_*/*/eval/result.json"))}


# --- the runs -------------------------------------------------------------------------------------


def test_every_row_is_run_with_the_papers_numbers_alongside(done):
    assert [r["row"] for r in done.a] == list(PAPER_A)
    assert [r["row"] for r in done.b] == list(PAPER_B)
    for rows, paper in ((done.a, PAPER_A), (done.b, PAPER_B)):
        for r in rows:
            assert (r["paper_xsub"], r["paper_xview"]) == paper[r["row"]]
            assert 0 <= r["top1_last"] <= 100 and 0 <= r["top1_best"] <= 100
            assert 1 <= r["best_epoch"] <= SETTINGS["eval_epochs"]
            assert r["pretrain_epochs"] == 1 and np.isfinite(r["pretrain_loss"])
            assert Path(r["eval_dir"], "result.json").is_file()
            assert Path(r["run_dir"], "checkpoint.pt").is_file()


def test_sampling_rows_pretrain_and_evaluate_on_resampled_clips(done, data):
    natural_lengths = open_dataset(data).train.lengths
    for key, frames in (("resample150", 150), ("resample300", 300), ("natural", 0)):
        call = done.calls[key]
        assert load_config(call.run_dir).resample == frames  # what the pretraining ran with
        assert call.pretrain["resample"] == frames and call.pretrain["corrupt"] == 0.0
        train, val = call.dataset.train, call.dataset.val
        if frames:  # the linear evaluation sees train and test clips resampled the same way
            assert set(train.lengths) == {frames} and set(val.lengths) == {frames}
            assert train.clip(0).shape == (frames, 1, 5, 3) and val.clip(0).shape[0] == frames
            assert call.eval["augment"] is False  # a fixed length has no speed to jitter
        else:
            assert np.array_equal(train.lengths, natural_lengths)
    row = next(r for r in done.a if r["row"] == "resample150")
    assert row["resample"] == 150 and row["eval_augment"] is False


def test_corrupted_rows_pass_the_fraction_and_evaluate_on_clean_clips(done, data):
    clean = open_dataset(data)
    for key, fraction in (("corrupt05", 0.05), ("corrupt10", 0.1), ("corrupt20", 0.2)):
        call = done.calls[key]
        assert load_config(call.run_dir).corrupt == pytest.approx(fraction)
        assert call.pretrain["corrupt"] == pytest.approx(fraction)
        assert call.pretrain["resample"] == 0
        assert type(call.dataset) is PreparedDataset  # the stored clips, not a view
        assert np.array_equal(call.dataset.val.clip(0), clean.val.clip(0))


def test_table_b_zero_percent_reuses_table_a_natural_speed(done):
    assert "corrupt00" not in done.calls  # 3 + 4 pretrainings, not 3 + 5
    assert len(done.calls) == 7
    natural = next(r for r in done.a if r["row"] == "natural")
    zero = done.b[0]
    assert zero["reused_from"] == "table_a/natural" and natural["reused_from"] is None
    assert zero["top1_last"] == natural["top1_last"] and zero["run_dir"] == natural["run_dir"]


# --- the table files ------------------------------------------------------------------------------


def test_csv_and_markdown_hold_ours_and_the_paper(done):
    for name, rows, paper in (("table_a", done.a, PAPER_A), ("table_b", done.b, PAPER_B)):
        back = read_table(done.out / f"{name}.csv")
        assert [r["row"] for r in back] == list(paper)
        for r, b in zip(rows, back, strict=True):
            assert b["top1_last"] == pytest.approx(r["top1_last"])
            assert b["best_epoch"] == r["best_epoch"] and b["eval_augment"] == r["eval_augment"]
            assert (b["paper_xsub"], b["paper_xview"]) == paper[r["row"]]
        md = (done.out / f"{name}.md").read_text()
        for r in rows:
            line = next(x for x in md.splitlines() if x.startswith(f"| {r['setting']} |"))
            xsub, xview = paper[r["row"]]
            assert f"| {r['top1_last']:.1f} |" in line and line.endswith(f"| {xsub} | {xview} |")
        assert "supplementary" in md
        assert (done.out / f"{name}.png").read_bytes()[:4] == b"\x89PNG"


def test_plot_table_bars_ours_and_the_paper():
    rows = [
        {"table": "B", "setting": f"{p}%", "top1_last": 50.0 + p, "top1_best": 55.0 + p,
         "paper_xsub": 70.0, "paper_xview": 80.0, "benchmark": ""}
        for p in (0, 5)
    ]  # fmt: skip
    fig = viz.plot_table(rows)
    ax = fig.axes[0]
    assert isinstance(fig, Figure) and ax.get_xlabel() and ax.get_ylabel()
    assert len(ax.patches) == 2 * 4  # ours last / best, paper xsub / xview
    assert [p.get_height() for p in ax.patches[:2]] == [50.0, 55.0]
    plt.close(fig)
    rows[0]["benchmark"] = "xview"  # the paper's bars of the data's own benchmark only
    fig = viz.plot_table(rows)
    assert len(fig.axes[0].patches) == 2 * 3
    assert "xview" in fig.axes[0].get_legend().get_texts()[-1].get_text()
    plt.close(fig)


# --- reuse and resume -----------------------------------------------------------------------------


def test_rerun_reads_finished_rows_back(done, data, no_training):
    before = result_mtimes(done.out)
    assert len(before) == 8
    assert A.run_table_a(data, done.out, **SETTINGS) == done.a
    assert A.run_table_b(data, done.out, **SETTINGS) == done.b
    assert result_mtimes(done.out) == before


def test_rerun_with_other_settings_is_refused(done, data, no_training):
    with pytest.raises(GLTError, match=r"other settings \(eval\.epochs: 3 -> 4\)"):
        A.run_table_a(data, done.out, **{**SETTINGS, "eval_epochs": 4})
    with pytest.raises(GLTError, match=r"pretrain\.seed: 0 -> 1"):
        A.run_table_b(data, done.out, **{**SETTINGS, "seed": 1})


def test_interrupted_row_continues_without_pretraining_again(done, data, tmp_path, monkeypatch):
    out = shutil.copytree(done.out, tmp_path / "moved")  # also: a row folder may move
    shutil.rmtree(out / "table_a" / "natural" / "eval")  # stopped after its pretraining
    (out / "table_b" / "corrupt00").rename(out / "corrupt00")  # no twin to copy from
    checkpoint = out / "table_a" / "natural" / "run" / "checkpoint.pt"
    stamp = checkpoint.stat().st_mtime_ns
    before = result_mtimes(out)
    resumed = []
    real_pretrain = A.pretrain

    def spy(data_dir, run_dir, preset, **kw):
        resumed.append((Path(run_dir), kw["resume"]))
        return real_pretrain(data_dir, run_dir, preset, **kw)

    monkeypatch.setattr(A, "pretrain", spy)
    rows = A.run_table_a(data, out, **SETTINGS)
    assert resumed == [(out / "table_a" / "natural" / "run", True)]
    assert checkpoint.stat().st_mtime_ns == stamp  # finished run: nothing trained again
    assert len(load_metrics(checkpoint.parent)) == 1
    assert [r["row"] for r in rows] == list(PAPER_A)
    assert all(before[p] == p.stat().st_mtime_ns for p in before)  # other rows untouched


def test_subset_of_rows_and_unknown_names(data, tmp_path, no_training):
    with pytest.raises(GLTError, match="no row 'corrupt30'"):
        A.run_table_b(data, tmp_path, rows=["corrupt30"], **SETTINGS)
    with pytest.raises(GLTError, match="unknown table"):
        A.run_table("c", data, tmp_path, **SETTINGS)
    with pytest.raises(GLTError, match="resample"):  # 300 frames but a 100-frame model
        A.run_table_a(data, tmp_path, **{**SETTINGS, "model": {"num_frames": 100}})
    assert not any(tmp_path.iterdir())  # nothing written before the settings are checked


# --- command line ---------------------------------------------------------------------------------


def test_cli_reads_finished_rows_and_prints_the_table(done, data, capsys, no_training):
    argv = ["ablate", "--data", str(data), "--out", str(done.out), "--table", "b"]
    assert main(argv + ["--rows", "corrupt05", "corrupt10"] + CLI_SETTINGS) == 0
    printed = capsys.readouterr().out
    assert "| 5% |" in printed and "| 75.7 | 82.5 |" in printed
    assert "| 20% |" in printed  # the table holds every finished row, not only those asked for


def test_cli_errors_are_reported(data, tmp_path, capsys):
    argv = ["ablate", "--data", str(data), "--out", str(tmp_path / "x"), "--rows", "bogus"]
    assert main(argv) == 2
    assert "unknown row(s) ['bogus']" in capsys.readouterr().err
    assert main(["ablate", "--data", str(tmp_path / "none"), "--out", str(tmp_path / "x")]) == 2


# --- the resampled view ---------------------------------------------------------------------------


def test_resampled_dataset_resamples_every_clip(data):
    dataset = open_dataset(data)
    view = ResampledDataset.of(dataset, 7)
    assert (view.root, view.num_classes, view.layout) == (dataset.root, 3, dataset.layout)
    for i in (0, 5):
        expected = resample(torch.from_numpy(dataset.val.clip(i)), 7).numpy()
        assert view.val.clip(i).shape == (7, 1, 5, 3)
        np.testing.assert_array_equal(view.val.clip(i), expected)
    assert np.array_equal(view.train.labels, dataset.train.labels)
    assert set(view.train.lengths) == {7}
    copy = pickle.loads(pickle.dumps(view.train))  # as DataLoader workers receive it
    np.testing.assert_array_equal(copy.clip(3), view.train.clip(3))


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--epochs", "0", "invalid pretraining settings: epochs=0 must be at least 1"),
        ("--eval-epochs", "0", "invalid evaluation settings: epochs=0 must be at least 1"),
        ("--seed", "-1", "seed=-1 must be >= 0"),
        ("--model", "foo=1", "unknown model setting foo"),
    ],
)
def test_bad_settings_stop_before_any_row(
    data, tmp_path, capsys, no_training, flag, value, message
):
    out = tmp_path / "out"
    assert main(["ablate", "--data", str(data), "--out", str(out), "--quiet", flag, value]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.splitlines()) == 1
    assert not out.exists()
