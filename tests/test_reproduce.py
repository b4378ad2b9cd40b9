"""The `cxr-nb` command: run folders, failures, parameter validation (on a tiny stand-in notebook)."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from cxr_nb import reproduce
from cxr_nb.reproduce import PAPERS, _tiny_paper_notebook, main


@pytest.fixture
def tiny_paper(tmp_path, monkeypatch):
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    monkeypatch.setenv("CXR_NB_NOTEBOOKS", str(nbs))
    monkeypatch.setitem(PAPERS, "tiny", dict(notebook="tiny.ipynb", title="tiny stand-in",
                                             presets=dict(smoke=dict(epochs=3, seed=0), paper=dict(epochs=50, seed=0))))
    _tiny_paper_notebook(nbs / "tiny.ipynb")
    return nbs


def test_run_folder_contents(tiny_paper, tmp_path):
    before = (tiny_paper / "tiny.ipynb").read_bytes()
    assert main(["run", "tiny", "-p", "epochs", "7", "--out", str(tmp_path / "runs")]) == 0
    (run,) = list((tmp_path / "runs" / "tiny").iterdir())
    assert sorted(p.name for p in run.iterdir()) == ["env.json", "metrics.json", "params.yaml", "tiny.html", "tiny.ipynb"]
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["table"][0]["run"] == pytest.approx(0.57)  # measured inside the notebook from epochs=7
    assert yaml.safe_load((run / "params.yaml").read_text())["epochs"] == 7
    env = json.loads((run / "env.json").read_text())
    assert env["status"] == "ok" and env["seed"] == 0 and env["packages"]["torch"]
    assert "<html" in (run / "tiny.html").read_text().lower()
    assert (tiny_paper / "tiny.ipynb").read_bytes() == before  # the source notebook is never written


def test_failing_notebook_exits_nonzero(tiny_paper, tmp_path, capsys):
    _tiny_paper_notebook(tiny_paper / "tiny.ipynb", fail=True)
    assert main(["run", "tiny", "--out", str(tmp_path / "runs")]) == 1
    err = capsys.readouterr().err
    assert "deliberate failure" in err and "tiny.ipynb" in err
    (run,) = list((tmp_path / "runs" / "tiny").iterdir())
    assert json.loads((run / "env.json").read_text())["status"] == "failed"
    assert (run / "tiny.html").exists()


def test_unknown_parameter_lists_valid_ones(tiny_paper, tmp_path, capsys):
    assert main(["run", "tiny", "-p", "epoch", "3", "--out", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert "epoch" in err and "epochs" in err and "seed" in err


def test_unknown_paper_and_preset(tiny_paper, tmp_path, capsys):
    assert main(["run", "nope"]) == 2
    assert "yang2021" in capsys.readouterr().err
    assert main(["run", "tiny", "--preset", "fast", "--out", str(tmp_path / "runs")]) == 2
    assert "smoke" in capsys.readouterr().err


def test_console_script_lists_papers():
    exe = Path(sys.executable).parent / "cxr-nb"
    out = subprocess.run([str(exe), "list"], capture_output=True, text=True, check=True).stdout
    assert "yang2021" in out and "preset smoke" in out and "preset paper" in out
