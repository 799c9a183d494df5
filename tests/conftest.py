"""Shared test fixtures.

Tests that need `../shared` (the authors' reference outputs, genuine NTU and NW-UCLA data) skip
on a machine without it, and fail instead when GLT_REQUIRE_SHARED=1 (as in CI).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from glt import paths
from glt.layout import SkeletonLayout

# A five-joint, one-person skeleton for the small datasets that evaluation and ablation tests
# write (`from conftest import TOY`).
TOY = SkeletonLayout(
    name="toy",
    joint_names=("root", "neck", "left", "right", "head"),
    bones=((0, 1), (2, 1), (3, 1), (4, 1)),
    center=1,
    left_shoulder=2,
    right_shoulder=3,
    num_persons=1,
)


def require(path: Path, what: str) -> Path:
    """Return `path` if it exists; else skip, or fail under GLT_REQUIRE_SHARED=1."""
    if path.exists():
        return path
    message = f"{what} not found at {path}"
    if os.environ.get("GLT_REQUIRE_SHARED") == "1":
        pytest.fail(f"{message} (GLT_REQUIRE_SHARED=1)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def official() -> dict:
    """The authors' reference outputs; every setting a test needs is in official['config']."""
    path = require(paths.official_fixture(), "the authors' reference fixture")
    return torch.load(path, weights_only=True)


@pytest.fixture(scope="module")
def authors_model(official):
    """The authors' `Pretrain` module of the fixture as a PretrainModel (eval mode), and the
    fixture's model input as (x (N, T, J, C), lengths)."""
    from glt.compat import config_from_authors, from_authors_input, load_authors
    from glt.mpdp import PretrainModel

    config = config_from_authors(official["config"])
    model = load_authors(PretrainModel(config), official["pretrain_state_dict"]).eval()
    x, lengths = from_authors_input(official["model_input"])
    return model, x, lengths


@pytest.fixture(scope="session")
def ntu_samples_dir() -> Path:
    return require(paths.ntu_samples_dir(), "genuine NTU samples")


@pytest.fixture(scope="session")
def nwucla_dir() -> Path:
    return require(paths.nwucla_dir(), "NW-UCLA")


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def browser():
    """Headless Chromium for the report's site checks (site_check.py); skips without one."""
    from site_check import chromium

    driver = chromium()
    yield driver
    driver.quit()
