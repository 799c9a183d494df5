"""DDP through `torchrun` with two CPU processes (gloo): a full run, and one step that must equal
the same step taken by one process on the whole batch.

This file is also the script the second test launches: `torchrun ... tests/test_ddp.py OUT`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from glt import checkpoint, distributed
from glt.config import PretrainConfig
from glt.layout import NTU
from glt.mpdp import LOSS_TERMS, PretrainModel
from glt.packing import pack
from glt.pretrain import train_step
from glt.pretrain_packed import packed_train_step
from glt.run import load_metrics

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent


def torchrun(*args: str, nproc: int = 2) -> subprocess.CompletedProcess:
    """Launch with PyTorch's own launcher, as a user would (one thread per process)."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    command += ["--nproc-per-node", str(nproc), *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def test_torchrun_pretrain_two_ranks(tmp_path):
    from test_pretrain import write_random_walks

    data = write_random_walks(tmp_path / "data", clips=24)
    out = tmp_path / "run"
    argv = ["-m", "glt", "pretrain", "--data", str(data), "--out", str(out), "--quiet"]
    argv += ["--batch-size", "8", "--model", "depth=1", "--model", "num_frames=40"]
    argv += ["--device", "cpu", "--workers", "0"]
    torchrun(*argv, "--epochs", "1")
    torchrun(*argv[:-1], "1", "--resume", "--epochs", "2")  # resumed, with one DataLoader worker

    state = checkpoint.load_checkpoint(out / "checkpoint.pt")
    assert (state["epoch"], state["step"]) == (2, 6)  # 24 clips, 4 per rank and step
    assert len(state["rng"]) == 2  # every rank's generators
    assert not torch.equal(state["rng"][0]["torch"], state["rng"][1]["torch"])  # own dropout
    rows = load_metrics(out)
    assert [r["epoch"] for r in rows] == [1, 2]
    assert all(r["samples"] == 24 for r in rows)  # the ranks share the epoch, no clip twice
    assert rows[1]["loss"] < rows[0]["loss"]


def _first_step(out: str, packed: bool = False) -> None:
    """One SGD step (lr 1) on a fixed batch of 4 clips, each rank taking its share of them,
    padded or packed; rank 0 saves the summed statistics and the updated weights to `out`."""
    ctx = distributed.setup("cpu")
    _take_step(ctx, out, packed)
    distributed.teardown()  # as glt.pretrain: the model, out of scope, is freed first


def _take_step(ctx, out: str, packed: bool) -> None:
    quiet = {"dropout": 0.0, "attn_dropout": 0.0, "drop_path": 0.0}
    config = PretrainConfig.from_preset("tiny", NTU, model={"depth": 1, "num_frames": 24, **quiet})
    torch.manual_seed(0)
    model = PretrainModel(config.model)
    lengths = torch.tensor([24, 6, 15, 9])  # unequal frames per rank: 30 and 24
    x = torch.randn(4, 24, NTU.num_persons, NTU.num_joints, 3).cumsum(1) * 0.01
    x[torch.arange(24)[None, :] >= lengths[:, None]] = 0
    share = slice(ctx.rank * 4 // ctx.world_size, (ctx.rank + 1) * 4 // ctx.world_size)
    batch = dict(x=x[share], lengths=lengths[share], present=torch.ones(4, 2, dtype=bool)[share])
    step = train_step
    if packed:
        batch["x"], step = pack(batch["x"], batch["lengths"]), packed_train_step
    if ctx.distributed:
        model = torch.nn.parallel.DistributedDataParallel(model)
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    stats = distributed.all_reduce_sum(step(model, batch, optimizer, config, ctx.device))
    if ctx.is_main:
        torch.save({"stats": stats, "model": checkpoint.unwrap(model).state_dict()}, out)


@pytest.mark.parametrize("path", ["padded", "packed"])
def test_two_ranks_take_the_step_of_one_process_on_the_whole_batch(tmp_path, path):
    torchrun(__file__, str(tmp_path / "ddp.pt"), path)
    _first_step(str(tmp_path / "single.pt"), packed=path == "packed")
    ddp, single = (torch.load(tmp_path / f"{n}.pt", weights_only=True) for n in ("ddp", "single"))

    names = ["loss", *LOSS_TERMS, "grad_norm"]
    for name, a, b in zip(names, ddp["stats"].tolist(), single["stats"].tolist(), strict=True):
        assert a == pytest.approx(b, rel=1e-5), name
    for name, value in single["model"].items():
        torch.testing.assert_close(ddp["model"][name], value, rtol=1e-5, atol=1e-6, msg=name)


if __name__ == "__main__":
    _first_step(sys.argv[1], packed=sys.argv[2] == "packed")
