"""`glt bench` (glt.bench): its reference restates the authors' formulation of the same step, and
the command writes its JSON and Markdown rows. No timing is asserted."""

from __future__ import annotations

import json

import pytest
import torch

from glt.bench import (
    RESULTS_HEADER,
    append_results,
    authors_targets,
    bench_config,
    fast_batch,
    natural_lengths,
    random_items,
    reference_batch,
    reference_step,
)
from glt.commands import main
from glt.data.dataset import collate_clips
from glt.mpdp import PretrainModel
from glt.pretrain_packed import packed_train_step
from glt.targets import displacement_targets

TINY = {"dim": 4, "heads": 2, "depth": 1, "num_frames": 100}
QUIET = {"dropout": 0.0, "attn_dropout": 0.0, "drop_path": 0.0}


def test_natural_lengths_are_ntu_like_and_seeded():
    lengths = natural_lengths(2000)
    assert lengths.min() >= 32 and lengths.max() <= 300
    assert 75 <= float(sorted(lengths)[1000]) <= 85 and 85 <= lengths.mean() <= 95
    assert (natural_lengths(50, seed=1) == natural_lengths(50, seed=1)).all()


def test_reference_targets_are_glt_targets():
    items = random_items([33, 40, 35])  # the third clip without a second person
    batch = collate_clips(items)
    ours = displacement_targets(batch["x"], batch["lengths"], batch["present"], (1, 5, 10))
    for i, item in enumerate(items):
        theirs = authors_targets(item["x"].numpy(), item["present"].numpy(), (1, 5, 10))
        for a, b in zip(ours, theirs, strict=True):
            assert torch.equal(a[i, : item["length"]], torch.from_numpy(b))


def test_reference_and_fast_steps_compute_the_same_loss():
    """Without dropout, from the same weights: the same loss, terms and gradient norm."""
    config = bench_config("reduced", batch_size=3, bf16=False, model={**TINY, **QUIET})
    items = random_items([40, 33, 36])
    stats = []
    for prepare, step in ((reference_batch, reference_step), (fast_batch, packed_train_step)):
        torch.manual_seed(0)
        model = PretrainModel(config.model)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        stats.append(step(model, prepare(items, config), optimizer, config, torch.device("cpu")))
    torch.testing.assert_close(stats[1], stats[0], rtol=1e-5, atol=1e-6)


def test_bench_command_writes_json_and_appends_rows(tmp_path, capsys):
    out, results = tmp_path / "bench.json", tmp_path / "RESULTS.md"
    results.write_text("# Benchmark results\n\nEarlier notes.\n")
    argv = ["bench", "--device", "cpu", "--batch-size", "2", "--steps", "1", "--warmup", "0"]
    argv += [f"--model={key}={value}" for key, value in TINY.items()]
    assert main([*argv, "--out", str(out), "--results", str(results)]) == 0
    printed = capsys.readouterr().out
    assert "fast / reference" in printed and "NTU-60 xsub epoch" in printed

    result = json.loads(out.read_text())
    assert list(result["workloads"]) == ["natural", "full"] and result["batch_size"] == 2
    assert result["model"]["dim"] == 4 and result["matmul_peak_tflops"] > 0
    assert result["command"].startswith("glt bench")
    natural, full = result["workloads"]["natural"], result["workloads"]["full"]
    assert full["lengths"]["min"] == full["lengths"]["max"] == 100
    assert natural["lengths"]["min"] >= 32 and natural["valid_fraction"] < 1
    for entry in (natural, full):
        for name in ("reference", "fast"):
            timed = entry[name]
            assert not timed["out_of_memory"] and timed["peak_memory_gb"] is None  # CPU
            assert timed["samples_per_s"] > 0 and 0 < timed["mfu"] and timed["data_ms"] >= 0
        assert entry["fast_over_reference"] > 0
    assert "projection" not in full
    for projected in natural["projection"].values():
        assert projected["paper_120_epochs_h"] * 3600 == pytest.approx(
            120 * projected["ntu60_xsub_epoch_s"]
        )

    append_results(results, result, "glt bench (again)")
    text = results.read_text()
    assert text.startswith("# Benchmark results\n\nEarlier notes.\n")
    assert text.count(RESULTS_HEADER) == 1
    rows = text[text.index(RESULTS_HEADER) :].splitlines()[2:]
    assert len(rows) == 4 and "`glt bench (again)`" in rows[2]
    assert all(row.count("|") == RESULTS_HEADER.count("|") for row in rows)
    assert "| natural (mean" in rows[0] and "| full (mean 100, 100..100) |" in rows[1]


def test_bench_refuses_an_unknown_workload(tmp_path, capsys):
    argv = ["bench", "--workloads", "short", "--out", str(tmp_path / "b.json"), "--no-results"]
    assert main(argv) == 2
    assert "unknown workload 'short'" in capsys.readouterr().err


@pytest.mark.parametrize("preset", ["paper", "reduced"])
def test_bench_config_is_the_authors_training(preset):
    config = bench_config(preset, batch_size=128)
    assert (config.lr, config.weight_decay, config.clip_grad) == (5e-5, 0.1, 0.0)
    assert config.model.num_frames == 300 and config.model.dim == (48 if preset == "paper" else 8)
