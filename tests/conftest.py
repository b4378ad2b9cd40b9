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


def write_stand_in(path, params: str, body: str):
    "A two-cell notebook for `cxr-nb` to run: `params` as the cell tagged `parameters`, then `body`; returns `path`."
    import nbformat
    nb = nbformat.v4.new_notebook()
    p = nbformat.v4.new_code_cell(params)
    p.metadata["tags"] = ["parameters"]
    nb.cells = [p, nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "python3", "language": "python"}
    nbformat.write(nb, path)
    return path


@pytest.fixture
def stand_in_paper(tmp_path, monkeypatch):
    """Register stand-in paper notebooks for `cxr-nb`: `register(name, build, presets)` writes `build(path)` as
    `<name>.ipynb` in a fresh notebooks folder (CXR_NB_NOTEBOOKS, which the kernels read) and adds `name` to
    PAPERS for this test only; it returns that folder."""
    from cxr_nb.papers.kit import PAPERS
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    monkeypatch.setenv("CXR_NB_NOTEBOOKS", str(nbs))

    def register(name, build, presets):
        monkeypatch.setitem(PAPERS, name, dict(notebook=f"{name}.ipynb", title=f"{name} stand-in", presets=presets))
        build(nbs / f"{name}.ipynb")
        return nbs
    return register
