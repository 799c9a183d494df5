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


@pytest.fixture(scope="session")
def ntu_samples_dir() -> Path:
    return require(paths.ntu_samples_dir(), "genuine NTU samples")


@pytest.fixture(scope="session")
def nwucla_dir() -> Path:
    return require(paths.nwucla_dir(), "NW-UCLA")


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
