"""Tests for glt.ablations: supplementary Tables A and B end to end on a toy dataset (one
pretraining epoch, three epochs of linear evaluation, a one-block tiny model), the clips each row
pretrains and evaluates on, reuse of finished runs, seeds and their aggregation, and the table
files and figure."""

from __future__ import annotations

import csv
import json
import pickle
import runpy
import shutil
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from conftest import TOY
from matplotlib.container import BarContainer
from matplotlib.figure import Figure

from glt import ablations as A
from glt import viz
from glt.commands import main
from glt.data.augment import resample
from glt.data.resampled import ResampledDataset
from glt.data.store import PreparedDataset, open_dataset, write_dataset
from glt.errors import GLTError
from glt.results import RUN_COLUMNS, TABLE_COLUMNS, aggregate_seeds, read_table, write_table
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

# method §6 (supplementary Tables A and B): (xsub, xview) per row, in the published order;
# resample52 is ours, not in the paper.
PAPER_A = {
    "resample52": (None, None),
    "resample150": (75.1, 80.2),
    "resample300": (73.2, 79.0),
    "natural": (76.3, 83.8),
}
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
        out=out, a=rows_a, b=rows_b, calls={c.run_dir.parent.parent.name: c for c in calls}
    )


@pytest.fixture
def no_training(monkeypatch):
    """Fail if anything is pretrained or evaluated."""

    def fail(*args, **kwargs):
        raise AssertionError("a finished row was computed again")

    monkeypatch.setattr(A, "pretrain", fail)
    monkeypatch.setattr(A, "linear_eval", fail)


def result_mtimes(out: Path) -> dict:
    return {p: p.stat().st_mtime_ns for p in sorted(out.glob("table_*/*/seed*/eval/result.json"))}


# --- the runs -------------------------------------------------------------------------------------


def test_every_row_is_run_with_the_papers_numbers_alongside(done):
    assert [r["row"] for r in done.a] == list(PAPER_A)
    assert [r["row"] for r in done.b] == list(PAPER_B)
    for rows, paper in ((done.a, PAPER_A), (done.b, PAPER_B)):
        for r in rows:
            assert (r["paper_xsub"], r["paper_xview"]) == paper[r["row"]]
            assert 0 <= r["top1_last"] <= 100 and 0 <= r["top1_best"] <= 100
            assert 1 <= int(r["best_epochs"]) <= SETTINGS["eval_epochs"]
            assert r["pretrain_epochs"] == 1 and np.isfinite(r["pretrain_loss"])
            assert r["seeds"] == 1 and r["seed_list"] == "0" and r["top1_last_std"] is None
            assert r["top1_last_min"] == r["top1_last"] == r["top1_last_max"]
    for run in read_table(done.out / "table_a_seeds.csv"):
        assert run["seed"] == 0 and Path(run["run_dir"]).parent.name == "seed0"
        assert Path(run["eval_dir"], "result.json").is_file()
        assert Path(run["run_dir"], "checkpoint.pt").is_file()


def test_sampling_rows_pretrain_and_evaluate_on_resampled_clips(done, data):
    natural_lengths = open_dataset(data).train.lengths
    for key, frames in (
        ("resample52", 52),
        ("resample150", 150),
        ("resample300", 300),
        ("natural", 0),
    ):
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
    assert "corrupt00" not in done.calls  # 4 + 4 pretrainings, not 4 + 5
    assert len(done.calls) == 8
    natural = next(r for r in done.a if r["row"] == "natural")
    zero = done.b[0]
    assert zero["reused_from"] == "table_a/natural" and natural["reused_from"] is None
    assert zero["top1_last"] == natural["top1_last"]
    runs = read_table(done.out / "table_a_seeds.csv") + read_table(done.out / "table_b_seeds.csv")
    natural_run, zero_run = (
        next(r for r in runs if r["row"] == k) for k in ("natural", "corrupt00")
    )
    assert zero_run["run_dir"] == natural_run["run_dir"]


# --- the table files ------------------------------------------------------------------------------


def test_rows_record_the_size_of_their_test_set(done):
    assert {r["num_test"] for r in done.a + done.b} == {6}


def test_csv_and_markdown_hold_ours_and_the_paper(done):
    for name, rows, paper in (("table_a", done.a, PAPER_A), ("table_b", done.b, PAPER_B)):
        back = read_table(done.out / f"{name}.csv")
        assert [r["row"] for r in back] == list(paper)
        for r, b in zip(rows, back, strict=True):
            assert b["top1_last"] == pytest.approx(r["top1_last"])
            assert b["best_epochs"] == r["best_epochs"] and b["eval_augment"] == r["eval_augment"]
            assert (b["paper_xsub"], b["paper_xview"]) == paper[r["row"]]
        md = (done.out / f"{name}.md").read_text()
        for r in rows:
            line = next(x for x in md.splitlines() if x.startswith(f"| {r['setting']} |"))
            xsub, xview = paper[r["row"]]
            assert f"| 1 | {r['top1_last']:.1f} | {r['top1_best']:.1f} |" in line
            if xsub is None:
                assert line.endswith("| not in the paper | not in the paper |")
            else:
                assert line.endswith(f"| {xsub} | {xview} |")
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
    assert len(before) == 9
    assert A.run_table_a(data, done.out, **SETTINGS) == done.a
    assert A.run_table_b(data, done.out, **SETTINGS) == done.b
    assert result_mtimes(done.out) == before


def test_rerun_with_other_settings_is_refused(done, data, no_training):
    with pytest.raises(GLTError, match=r"other settings \(eval\.epochs: 3 -> 4\)"):
        A.run_table_a(data, done.out, **{**SETTINGS, "eval_epochs": 4})
    with pytest.raises(GLTError, match=r"pretrain\.batch_size: 12 -> 6"):
        A.run_table_b(data, done.out, **{**SETTINGS, "batch_size": 6})


def test_interrupted_row_continues_without_pretraining_again(done, data, tmp_path, monkeypatch):
    out = shutil.copytree(done.out, tmp_path / "moved")  # also: a row folder may move
    shutil.rmtree(out / "table_a" / "natural" / "seed0" / "eval")  # stopped after pretraining
    (out / "table_b" / "corrupt00").rename(out / "corrupt00")  # no twin to copy from
    checkpoint = out / "table_a" / "natural" / "seed0" / "run" / "checkpoint.pt"
    stamp = checkpoint.stat().st_mtime_ns
    before = result_mtimes(out)
    resumed = []
    real_pretrain = A.pretrain

    def spy(data_dir, run_dir, preset, **kw):
        resumed.append((Path(run_dir), kw["resume"]))
        return real_pretrain(data_dir, run_dir, preset, **kw)

    monkeypatch.setattr(A, "pretrain", spy)
    rows = A.run_table_a(data, out, **SETTINGS)
    assert resumed == [(out / "table_a" / "natural" / "seed0" / "run", True)]
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


def test_a_finished_folder_is_read_where_it_cannot_be_written(done, data, tmp_path, no_training):
    out = shutil.copytree(done.out, tmp_path / "read-only")
    files = sorted(p for p in out.rglob("*") if p.is_file())
    stamps = [p.stat().st_mtime_ns for p in files]
    for p in [*files, *(d for d in out.rglob("*") if d.is_dir()), out]:
        p.chmod(p.stat().st_mode & ~0o222)
    try:
        assert A.run_table_a(data, out, **SETTINGS) == done.a
        assert A.run_table_b(data, out, **SETTINGS) == done.b
    finally:
        for p in [out, *out.rglob("*")]:
            p.chmod(p.stat().st_mode | 0o200)
    assert [p.stat().st_mtime_ns for p in files] == stamps


def test_finished_only_trains_nothing_and_writes_what_is_done(done, data, tmp_path, no_training):
    out = shutil.copytree(done.out, tmp_path / "partial")
    shutil.rmtree(out / "table_b" / "corrupt05")  # not finished
    shutil.rmtree(out / "table_b" / "corrupt00")  # to be copied again from natural speed
    (out / "table_b.csv").unlink()
    rows = A.run_table_b(data, out, finished_only=True, **SETTINGS)
    assert [r["row"] for r in rows] == ["corrupt00", "corrupt10", "corrupt15", "corrupt20"]
    assert rows[0]["reused_from"] == "table_a/natural"
    assert [r["row"] for r in read_table(out / "table_b.csv")] == [r["row"] for r in rows]
    assert not (out / "table_b" / "corrupt05").exists()
    # no finished run at all: no table
    assert A.run_table_b(data, tmp_path / "none", seeds=2, finished_only=True, **SETTINGS) == []
    argv = ["ablate", "--data", str(data), "--out", str(out), "--finished-only"] + CLI_SETTINGS
    assert main(argv) == 0 and not (out / "table_b" / "corrupt05").exists()


def test_an_existing_run_stands_for_a_row(done, data, tmp_path, monkeypatch):
    natural = done.out / "table_a" / "natural" / "seed0" / "run"  # made elsewhere, reused here
    evaluated = []
    real_eval = A.linear_eval

    def spy_eval(encoder, dataset, **kw):
        evaluated.append(encoder)
        return real_eval(encoder, dataset, **kw)

    monkeypatch.setattr(A, "pretrain", lambda *a, **k: pytest.fail("pretrained again"))
    monkeypatch.setattr(A, "linear_eval", spy_eval)
    out = tmp_path / "out"
    rows = A.run_table_b(
        data, out, rows=["corrupt00"], existing_runs={"corrupt00": natural}, **SETTINGS
    )
    assert len(evaluated) == 1 and not (out / "table_b" / "corrupt00" / "seed0" / "run").exists()
    record = json.loads((out / "table_b" / "corrupt00" / "seed0" / "ablation.json").read_text())
    assert (out / record["run"]).resolve() == natural.resolve()
    # same encoder, same evaluation settings and seed: the number of the original row
    assert rows[0]["top1_last"] == pytest.approx(done.b[0]["top1_last"])
    assert rows[0]["pretrain_loss"] == pytest.approx(done.b[0]["pretrain_loss"])


def test_a_folder_moved_with_its_data_and_runs_is_read_back(done, data, tmp_path, monkeypatch):
    # A classroom: data, a shared pretraining run and the ablation folder, mounted elsewhere later.
    made, mounted = tmp_path / "made", tmp_path / "mounted"
    shutil.copytree(data, made / "data")
    shutil.copytree(done.out / "table_a" / "natural" / "seed0" / "run", made / "runs" / "shared")
    monkeypatch.setattr(A, "pretrain", lambda *a, **k: pytest.fail("pretrained again"))
    rows = A.run_table_b(made / "data", made / "ablations", rows=["corrupt00"],
                         existing_runs={"corrupt00": made / "runs" / "shared"}, **SETTINGS)  # fmt: skip
    shutil.move(made, mounted)
    monkeypatch.setattr(A, "linear_eval", lambda *a, **k: pytest.fail("evaluated again"))
    moved = A.run_table_b(mounted / "data", mounted / "ablations", rows=["corrupt00"],
                          existing_runs={"corrupt00": mounted / "runs" / "shared"}, **SETTINGS)  # fmt: skip
    assert moved == rows  # the same lines: "data" says where the row was made
    # Without the data's hash (rows made before glt recorded it), the path decides.
    record_file = mounted / "ablations" / "table_b" / "corrupt00" / "seed0" / "ablation.json"
    record = json.loads(record_file.read_text())
    del record["settings"]["data_fingerprint"]
    record["settings"]["data"] = str(made / "data")
    record_file.write_text(json.dumps(record))
    with pytest.raises(GLTError, match=r"other settings \(data: "):
        A.run_table_b(mounted / "data", mounted / "ablations", rows=["corrupt00"],
                      existing_runs={"corrupt00": mounted / "runs" / "shared"}, **SETTINGS)  # fmt: skip


def test_how_often_a_run_logged_is_not_one_of_its_settings(done, data, tmp_path, monkeypatch):
    # Logging a step's loss changes no weight: a run logged every 5 steps stands for a row (notebook
    # 06 reuses notebook 03's), and rows recorded when log_every was still a setting are read back.
    out = shutil.copytree(done.out, tmp_path / "out")
    natural = out / "table_a" / "natural" / "seed0"
    config = json.loads((natural / "run" / "config.json").read_text())
    (natural / "run" / "config.json").write_text(json.dumps({**config, "log_every": 5}))
    record = json.loads((natural / "ablation.json").read_text())
    record["settings"]["pretrain"]["log_every"] = 3
    (natural / "ablation.json").write_text(json.dumps(record))
    real_eval = A.linear_eval
    monkeypatch.setattr(A, "pretrain", lambda *a, **k: pytest.fail("pretrained again"))
    monkeypatch.setattr(A, "linear_eval", lambda *a, **k: pytest.fail("evaluated again"))
    rows = A.run_table_a(data, out, rows=["natural"], **SETTINGS)
    assert rows[0]["top1_last"] == pytest.approx(done.a[-1]["top1_last"])
    monkeypatch.setattr(A, "linear_eval", real_eval)
    b = A.run_table_b(data, tmp_path / "b", rows=["corrupt00"], **SETTINGS,
                      existing_runs={"corrupt00": natural / "run"})  # fmt: skip
    assert b[0]["top1_last"] == pytest.approx(done.b[0]["top1_last"])


def test_an_existing_run_must_have_the_rows_settings(done, data, tmp_path, no_training):
    natural = done.out / "table_a" / "natural" / "seed0" / "run"
    with pytest.raises(
        GLTError, match=r"not pretrained with this row's settings \(corrupt: 0.0 -> 0.2"
    ):
        A.run_table_b(
            data,
            tmp_path / "a",
            rows=["corrupt20"],
            existing_runs={"corrupt20": natural},
            **SETTINGS,
        )
    with pytest.raises(GLTError, match=r"epochs: 1 -> 2"):
        A.run_table_a(
            data,
            tmp_path / "b",
            rows=["natural"],
            existing_runs={"natural": natural},
            **{**SETTINGS, "epochs": 2},
        )
    with pytest.raises(GLTError, match="one seed"):
        A.run_table_a(data, tmp_path / "c", existing_runs={"natural": natural}, seeds=2, **SETTINGS)
    with pytest.raises(GLTError, match="no row 'corrupt30'"):
        A.run_table_b(data, tmp_path / "d", existing_runs={"corrupt30": natural}, **SETTINGS)


# --- seeds ----------------------------------------------------------------------------------------


class Interrupted(Exception):
    """Stands for a run stopped from outside (Ctrl-C, a lost machine)."""


@pytest.fixture(scope="module")
def seeded(done, data, tmp_path_factory):
    """Seeds 0 and 1 of two Table A rows and of Table B's 0 % row, on top of the single-seed
    tables (whose seed-0 runs are read back): interrupted once in the linear evaluation of the
    first seed-1 run, then run again to the end."""
    out = shutil.copytree(done.out, tmp_path_factory.mktemp("seeded") / "out")
    rows = ["resample52", "natural"]
    real_pretrain, real_eval = A.pretrain, A.linear_eval
    pretrained, evaluated = [], []

    def stop(encoder, dataset, **kw):
        raise Interrupted

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(A, "linear_eval", stop)
        with pytest.raises(Interrupted):
            A.run_table_a(data, out, rows=rows, seeds=2, **SETTINGS)
    checkpoint = A.seed_dir(out, "a", "resample52", 1) / "run" / "checkpoint.pt"
    stopped = SimpleNamespace(
        table=read_table(out / "table_a.csv"),
        checkpoint=checkpoint,
        stamp=checkpoint.stat().st_mtime_ns,
    )
    before = result_mtimes(out)

    def spy_pretrain(data_dir, run_dir, preset, **kw):
        pretrained.append(Path(run_dir))
        return real_pretrain(data_dir, run_dir, preset, **kw)

    def spy_eval(encoder, dataset, **kw):
        evaluated.append(kw["seed"])
        return real_eval(encoder, dataset, **kw)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(A, "pretrain", spy_pretrain)
        mp.setattr(A, "linear_eval", spy_eval)
        rows_a = A.run_table_a(data, out, rows=rows, seeds=2, **SETTINGS)
        rows_b = A.run_table_b(data, out, rows=["corrupt00"], seeds=[0, 1], **SETTINGS)
    return SimpleNamespace(
        out=out, a=rows_a, b=rows_b, stopped=stopped, before=before,
        pretrained=pretrained, evaluated=evaluated,
    )  # fmt: skip


def test_each_seed_is_its_own_run(seeded):
    for row in ("resample52", "natural"):
        for seed in (0, 1):
            folder = A.seed_dir(seeded.out, "a", row, seed)
            assert load_config(folder / "run").seed == seed
            assert (folder / "eval" / "result.json").is_file()
            saved = json.loads((folder / "ablation.json").read_text())["settings"]
            assert saved["pretrain"]["seed"] == saved["eval"]["seed"] == seed
    runs = read_table(seeded.out / "table_a_seeds.csv")
    pairs = [(r["row"], r["seed"]) for r in runs]
    assert pairs == [
        ("resample52", 0), ("resample52", 1), ("resample150", 0), ("resample300", 0),
        ("natural", 0), ("natural", 1),
    ]  # fmt: skip
    assert len({r["run_dir"] for r in runs}) == len(runs)


def test_interrupted_seeds_continue_run_by_run(seeded):
    # After the interruption: the table of what was done (seed 0 only), nothing of seed 1 but
    # the pretraining that had finished.
    assert [(r["row"], r["seeds"]) for r in seeded.stopped.table] == [
        ("resample52", 1), ("resample150", 1), ("resample300", 1), ("natural", 1),
    ]  # fmt: skip
    assert all(p.parent.parent.name == "seed0" for p in seeded.before)
    # Then: seed 0 read back, the stopped run's pretraining resumed (finished: not trained
    # again) and evaluated, the last run pretrained and evaluated.
    out = seeded.out
    assert seeded.pretrained == [
        A.seed_dir(out, "a", "resample52", 1) / "run",
        A.seed_dir(out, "a", "natural", 1) / "run",
    ]
    assert seeded.evaluated == [1, 1]
    assert seeded.stopped.checkpoint.stat().st_mtime_ns == seeded.stopped.stamp
    assert len(load_metrics(seeded.stopped.checkpoint.parent)) == 1
    assert all(seeded.before[p] == p.stat().st_mtime_ns for p in seeded.before)


def test_zero_percent_row_reuses_natural_speed_per_seed(seeded):
    zero, *others = seeded.b  # the other rows: their seed 0 only
    assert (zero["row"], zero["seeds"], zero["reused_from"]) == ("corrupt00", 2, "table_a/natural")
    assert [r["seeds"] for r in others] == [1, 1, 1, 1]
    for seed in (0, 1):
        record = json.loads(
            (A.seed_dir(seeded.out, "b", "corrupt00", seed) / "ablation.json").read_text()
        )
        assert record["reused_from"] == f"table_a/natural/seed{seed}"
    natural = next(r for r in seeded.a if r["row"] == "natural")
    assert seeded.b[0]["top1_last"] == natural["top1_last"]


def test_seeded_table_is_the_mean_and_spread_of_its_runs(seeded):
    runs = read_table(seeded.out / "table_a_seeds.csv")
    back = read_table(seeded.out / "table_a.csv")
    assert [r["row"] for r in back] == list(PAPER_A)
    for row in back:
        mine = [r for r in runs if r["row"] == row["row"]]
        last = [r["top1_last"] for r in mine]
        assert row["seeds"] == len(mine) and row["seed_list"] == " ".join(
            str(r["seed"]) for r in mine
        )
        assert row["top1_last"] == pytest.approx(np.mean(last))
        assert (row["top1_last_min"], row["top1_last_max"]) == (min(last), max(last))
        if len(mine) > 1:
            assert row["top1_last_std"] == pytest.approx(np.std(last, ddof=1))
    md = (seeded.out / "table_a.md").read_text()
    line = next(x for x in md.splitlines() if x.startswith("| Natural speed"))
    assert line.startswith("| Natural speed with attention mask | 2 | ")
    assert " ± " in line and line.count("[") == 2


def test_seed_choices():
    assert A.seed_list(3) == [0, 1, 2] and A.seed_list([4, 2]) == [4, 2]
    for bad in (0, [1, 1], [-1]):
        with pytest.raises(GLTError, match="--seeds"):
            A.seed_list(bad)


def runs_of(row: str, top1: Sequence[float], **extra) -> list[dict]:
    """Handmade runs (RUN_COLUMNS) of one row, seeds 0.., best = last + 1."""
    return [
        {**dict.fromkeys(RUN_COLUMNS), "table": "A", "row": row, "setting": row.title(),
         "resample": 0, "corrupt": 0.0, "seed": seed, "top1_last": t, "top1_best": t + 1,
         "best_epoch": 2, "paper_xsub": 76.3, "paper_xview": 83.8, "data": "toy",
         "preset": "tiny", "pretrain_epochs": 1, "eval_epochs": 3, "eval_augment": True,
         "pretrain_seconds": 10.0 * (seed + 1), **extra}
        for seed, t in enumerate(top1)
    ]  # fmt: skip


def test_aggregate_seeds_arithmetic():
    runs = runs_of("natural", [70.0, 72.0, 77.0]) + runs_of("alone", [50.0], paper_xsub=None)
    runs[1]["reused_from"] = runs[2]["reused_from"] = "table_a/natural"
    natural, alone = aggregate_seeds(runs)
    assert natural["seeds"] == 3 and natural["seed_list"] == "0 1 2"
    assert natural["top1_last"] == pytest.approx(73.0)
    assert natural["top1_last_std"] == pytest.approx(13**0.5)  # deviations -3, -1, 4; n - 1 = 2
    assert (natural["top1_last_min"], natural["top1_last_max"]) == (70.0, 77.0)
    assert natural["top1_best"] == pytest.approx(74.0)
    assert natural["top1_best_std"] == pytest.approx(13**0.5)
    assert natural["pretrain_seconds"] == pytest.approx(20.0) and natural["best_epochs"] == "2 2 2"
    assert natural["reused_from"] == "table_a/natural" and natural["top5_last"] is None
    assert alone["seeds"] == 1 and alone["top1_last_std"] is None and alone["top1_last"] == 50.0
    assert list(natural) == list(TABLE_COLUMNS)


def test_write_table_files(tmp_path):
    runs = runs_of("natural", [70.0, 72.0, 77.0]) + runs_of(
        "resample52", [60.0], paper_xsub=None, paper_xview=None
    )
    paths = write_table(runs, tmp_path / "table_a", title="Table A", xlabel="input", source="paper")
    assert [p.name for p in paths] == [
        "table_a.csv",
        "table_a.md",
        "table_a.png",
        "table_a_seeds.csv",
    ]
    with open(paths[0]) as f:
        header = f.readline().strip().split(",")
    assert header == list(TABLE_COLUMNS)
    back = read_table(paths[0])
    assert [(r["row"], r["seeds"]) for r in back] == [("natural", 3), ("resample52", 1)]
    assert back[0]["top1_last_std"] == pytest.approx(13**0.5) and back[1]["paper_xsub"] is None
    assert [r["seed"] for r in read_table(paths[3])] == [0, 1, 2, 0]
    md = paths[1].read_text().splitlines()
    assert "| Natural | 3 | 73.0 ± 3.6 [70.0, 77.0] | 74.0 ± 3.6 [71.0, 78.0] | 76.3 | 83.8 |" in md
    assert "| Resample52 | 1 | 60.0 | 61.0 | not in the paper | not in the paper |" in md
    assert md[-1] == "Not in the paper: Resample52 (our addition)."
    assert paths[2].read_bytes()[:4] == b"\x89PNG"


def test_plot_table_error_bars_span_the_seeds():
    rows = aggregate_seeds(
        runs_of("natural", [70.0, 72.0, 77.0]) + runs_of("r52", [60.0], paper_xsub=None)
    )
    fig = viz.plot_table(rows)
    ax = fig.axes[0]
    bars = [c for c in ax.containers if isinstance(c, BarContainer)]
    last = bars[0]  # ours, last epoch: bars at the means, error bars min to max
    assert [p.get_height() for p in last.patches] == [73.0, 60.0]
    segments = last.errorbar.lines[2][0].get_segments()
    assert [tuple(s[:, 1]) for s in segments] == [(70.0, 77.0), (60.0, 60.0)]
    paper_xsub = bars[2]
    assert np.isnan(paper_xsub.patches[1].get_height())  # no published number, no bar
    assert "3 seeds" in ax.get_xticklabels()[0].get_text()
    assert "min to max" in ax.get_legend().get_texts()[0].get_text()
    plt.close(fig)


# --- command line ---------------------------------------------------------------------------------


def test_cli_reads_finished_rows_and_prints_the_table(done, data, capsys, no_training):
    argv = ["ablate", "--data", str(data), "--out", str(done.out), "--table", "b"]
    assert main(argv + ["--rows", "corrupt05", "corrupt10"] + CLI_SETTINGS) == 0
    printed = capsys.readouterr().out
    assert "| 5% |" in printed and "| 75.7 | 82.5 |" in printed
    assert "| 20% |" in printed  # the table holds every finished row, not only those asked for
    assert "Table B: change from 0 %" in printed and "| 20% | 1 |" in printed
    assert {p.name for p in done.out.glob("changes.*")} == {
        "changes.csv",
        "changes.md",
        "changes.png",
    }


def test_write_changes_files(tmp_path):
    a = runs_of("natural", [80.0, 82.0, 84.0]) + runs_of("resample150", [70.0, 73.0, 76.0])
    b = [
        {**line, "table": "B", "corrupt": pct / 100}
        for pct, values in ((0, [80.0, 82.0, 84.0]), (20, [76.0, 78.0, 79.0]))
        for line in runs_of(f"corrupt{pct:02d}", values, num_test=464)
    ]
    a += runs_of("resample300", [71.0, 75.0, 77.0])
    write_table(a, tmp_path / "table_a", title="A", xlabel="x", source="paper")
    write_table(b, tmp_path / "table_b", title="B", xlabel="x", source="paper")
    csv_path, md_path, png_path = A.write_changes(tmp_path)
    with open(csv_path, newline="") as f:
        lines = list(csv.DictReader(f))
    assert [(r["row"], r["deltas"]) for r in lines] == [
        ("resample150", "-10.00 -9.00 -8.00"),
        ("resample300", "-9.00 -7.00 -7.00"),
        ("corrupt20", "-4.00 -4.00 -5.00"),
    ]
    md = md_path.read_text()
    row_150 = "| Sampling (150 frames) | 3 | -9.0 [-10.0, -9.0, -8.0] | 2.5 | -1.2 / -3.6 |"
    assert row_150 + " same direction as the paper |" in md  # 2.5 = t(2 dof) x 0.58
    assert "| 20% | 3 | -4.3 [-4.0, -4.0, -5.0] | 1.4 | -3.9 / -4.8 | same direction" in md
    assert (
        "Table B's trend over 6 runs: -2.17 points per 10 % of joints corrupted (standard error "
        in md
    )
    assert (
        "Table A's resampling cost over 3 seed(s), the 150 and 300-frame rows averaged per seed: "
        "-8.3 points ± 2.6 (95 %) [-9.5, -8.0, -7.5] (paper, NTU-60 xsub: -2.15)." in md
    )
    assert png_path.read_bytes()[:4] == b"\x89PNG"
    assert A.write_changes(tmp_path / "empty") == []


def test_cli_errors_are_reported(data, tmp_path, capsys):
    argv = ["ablate", "--data", str(data), "--out", str(tmp_path / "x"), "--rows", "bogus"]
    assert main(argv) == 2
    assert "unknown row(s) ['bogus']" in capsys.readouterr().err
    assert main(["ablate", "--data", str(tmp_path / "none"), "--out", str(tmp_path / "x")]) == 2


def test_cli_nwucla_preset_seeds_and_the_authors_protocol(data, tmp_path, capsys):
    """--preset nwucla end to end with two seeds: the resampled row's linear evaluation is the
    authors' protocol (train-mode encoder, re-encoded every epoch), without augmentation."""
    out = tmp_path / "out"
    argv = ["ablate", "--data", str(data), "--out", str(out), "--preset", "nwucla"]
    argv += ["--rows", "resample52", "--seeds", "2", "--epochs", "1", "--batch-size", "12"]
    argv += ["--eval-epochs", "2", "--eval-batch-size", "6", "--model", "depth=1"]
    assert main(argv + ["--device", "cpu", "--quiet"]) == 0
    assert "| Sampling (52 frames) | 2 | " in capsys.readouterr().out
    for seed in (0, 1):
        folder = A.seed_dir(out, "a", "resample52", seed)
        assert load_config(folder / "run").preset == "nwucla"
        result = json.loads((folder / "eval" / "result.json").read_text())["settings"]
        assert result["encoder_mode"] == "train" and result["features"] == "re-encoded every epoch"
        assert (result["augment"], result["drop_last"], result["seed"]) == ("none", True, seed)
    assert read_table(out / "table_a.csv")[0]["seeds"] == 2


def test_cli_seed_options(data, tmp_path, monkeypatch, capsys):
    asked = []

    def fake(table, data_dir, out, **kw):
        asked.append(kw["seeds"] if kw["seeds"] is not None else kw["seed"])
        return []

    monkeypatch.setattr(A, "run_table", fake)
    monkeypatch.setattr("glt.commands.ablate.table_markdown", lambda *a: "")
    argv = ["ablate", "--data", str(data), "--out", str(tmp_path), "--table", "a"]
    for extra, seeds in ((["--seeds", "3"], 3), (["--seeds", "0", "2"], [0, 2]), ([], 0)):
        assert main(argv + extra) == 0
        assert asked.pop() == seeds
    with pytest.raises(SystemExit):  # one or the other
        main(argv + ["--seed", "1", "--seeds", "2"])
    assert "not allowed with argument" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["ablate", "--help"])
    assert "How long a full NW-UCLA run takes" in capsys.readouterr().out


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


# --- our rows against the paper's ---------------------------------------------------------------


def test_compare_with_paper_pairs_seeds_and_weighs_the_noise():
    runs = runs_of("natural", [80.0, 82.0, 84.0]) + runs_of("resample150", [70.0, 73.0, 76.0])
    runs += runs_of("resample300", [80.5, 81.5, 84.5]) + runs_of("resample52", [86.0, 88.0])
    a = {r["row"]: r for r in A.compare_with_paper("a", runs)}
    assert list(a) == ["resample52", "resample150", "resample300"]  # the table's order
    r150 = a["resample150"]
    assert r150["deltas"] == [-10.0, -9.0, -8.0] and r150["delta"] == pytest.approx(-9.0)
    assert r150["se_seeds"] == pytest.approx(1 / 3**0.5) and r150["se_test"] is None
    assert r150["margin"] == pytest.approx(4.3027 / 3**0.5, rel=1e-4)  # t(0.975, 2 dof) x s.e.
    assert r150["paper_delta_xsub"] == -1.2 and r150["paper_delta_xview"] == -3.6
    assert r150["verdict"] == "same direction as the paper"
    assert a["resample300"]["verdict"] == "within the noise"  # +0.5, +0.5, -0.5 -> mean 0.17
    r52 = a["resample52"]  # +6, +6: no spread, so the interval is empty and the change decides
    assert r52["seeds"] == 2 and r52["margin"] == 0.0 and r52["verdict"] == "higher"
    # seeds decide, not the test set: its error is reported beside them
    p, q = 0.73, 0.82
    small = {r["row"]: r for r in A.compare_with_paper("a", runs, num_test=40)}
    assert small["resample150"]["se_test"] == pytest.approx(
        100 * ((p * (1 - p) + q * (1 - q)) / 40) ** 0.5
    )
    assert small["resample150"]["margin"] == r150["margin"]
    recorded = [{**r, "num_test": 40} for r in runs]  # the runs' own test-set size by default
    assert A.compare_with_paper("a", recorded) == list(small.values())
    # one seed: the test set's 95 % interval decides
    one = runs_of("corrupt00", [70.0]) + runs_of("corrupt20", [75.0])
    b = A.compare_with_paper("b", one)
    assert b[0]["se_seeds"] is None and b[0]["margin"] is None
    assert b[0]["verdict"] == "within the noise"  # no noise estimate at all
    b = A.compare_with_paper("b", one, num_test=2000)
    assert b[0]["margin"] == pytest.approx(1.96 * b[0]["se_test"])
    assert b[0]["verdict"] == "opposite direction"  # the paper loses 3.9 points at 20 %
    assert A.compare_with_paper("b", one, num_test=100)[0]["verdict"] == "within the noise"


def test_corruption_trend_is_the_least_squares_slope():
    runs = [
        {**line, "table": "B", "corrupt": pct / 100}
        for pct, values in ((0, [80.0, 82.0]), (10, [78.0, 80.0]), (20, [76.0, 78.0]))
        for line in runs_of(f"corrupt{pct:02d}", values)
    ]
    trend = A.corruption_trend(runs)
    assert trend["slope"] == pytest.approx(-2.0) and trend["runs"] == 6
    assert trend["slope_se"] == pytest.approx(
        np.sqrt(6 / 4 / 4)
    )  # residual variance 6 / 4 over Sxx 4
    assert trend["paper_slope"] == pytest.approx(-1.96)  # 76.3 ... 72.4 over 0-20 %
    with pytest.raises(GLTError, match="two corrupted fractions"):
        A.corruption_trend(runs[:2])


def test_resampling_change_averages_the_papers_sampling_rows_per_seed():
    runs = runs_of("natural", [80.0, 82.0, 84.0]) + runs_of("resample150", [70.0, 73.0, 76.0])
    runs += runs_of("resample300", [72.0, 77.0, 80.0]) + runs_of("resample52", [0.0, 0.0, 0.0])
    cost = A.resampling_change(runs)
    assert cost["rows"] == ["resample150", "resample300"]  # 52 frames is not in the paper
    assert cost["per_seed"] == [-9.0, -7.0, -6.0] and cost["delta"] == pytest.approx(-22 / 3)
    assert cost["margin"] == pytest.approx(4.303 * np.std([-9, -7, -6], ddof=1) / np.sqrt(3), 1e-3)
    assert cost["paper_delta_xsub"] == pytest.approx((75.1 + 73.2) / 2 - 76.3)
    one_short = [r for r in runs if not (r["row"] == "resample300" and r["seed"] == 2)]
    assert A.resampling_change(one_short)["per_seed"] == [-9.0, -7.0]  # seed 2 lacks a row
    assert A.resampling_change(runs_of("natural", [80.0])) is None


def test_plot_paper_deltas_shows_seeds_means_and_the_paper():
    runs = runs_of("natural", [80.0, 82.0]) + runs_of("resample150", [70.0, 73.0])
    runs += runs_of("resample52", [86.0, 88.0])
    fig = viz.plot_paper_deltas({"Table A": A.compare_with_paper("a", runs)})
    ax = fig.axes[0]
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert sorted(labels) == [
        "ours, mean and 95 % interval",
        "ours, one seed",
        "paper, NTU-60 xsub",
    ]
    diamonds = [line for line in ax.get_lines() if line.get_marker() == "D"]
    assert [d.get_ydata()[0] for d in diamonds] == [pytest.approx(-1.2)]  # resample52: none
    plt.close(fig)
    with pytest.raises(ValueError):
        viz.plot_paper_deltas({"Table A": []})


def test_accuracy_by_clip_length_script(done, data, capsys, monkeypatch):
    script = Path(__file__).parent.parent / "benchmarks" / "ablation_lengths.py"
    monkeypatch.setattr("sys.argv", [str(script), str(done.out), str(data), "--edges", "0", "15"])
    runpy.run_path(str(script), run_name="__main__")
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "| row | seeds | 0-14 | 15+ | all |"
    by_row = {line.split(" | ")[0][2:]: line for line in lines[2:]}
    # every run counted once: natural speed, not its copy as 0 %; the overall column is the top-1
    assert "Natural speed with attention mask" in by_row and "0%" not in by_row
    natural = next(r for r in done.a if r["row"] == "natural")
    assert by_row["Natural speed with attention mask"].endswith(f"| {natural['top1_last']:.1f} |")
    short = int((np.asarray(open_dataset(data).val.lengths) < 15).sum())
    assert lines[-1] == f"| test clips | | {short} | {6 - short} | 6 |"
