"""Shared pytest fixtures: the real data sets in ../shared/data, skipped cleanly when absent."""
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _shared_data_root():
    env = os.environ.get("CXR_DATA")
    if env and Path(env).is_dir():
        return Path(env)
    p = REPO.parent / "shared" / "data"
    return p if p.is_dir() else None


@pytest.fixture(scope="session")
def shared_data():
    """The folder of real sets (CXR_DATA, else ../shared/data); skips the test when neither exists."""
    root = _shared_data_root()
    if root is None:
        pytest.skip("real data not found: set CXR_DATA or place the sets in ../shared/data")
    return root


@pytest.fixture(scope="session")
def shared_set(shared_data):
    """A function name -> folder of one real set, skipping the test when that set is absent."""
    def get(name):
        p = shared_data / name
        if not p.is_dir():
            pytest.skip(f"real data set {name!r} not found in {shared_data}")
        return p
    return get
