"""The `cxr-nb` command: run folders, failures, parameter validation (on a tiny stand-in notebook)."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import write_stand_in
from cxr_nb.cli import main

TINY_PRESETS = dict(smoke={}, paper=dict(epochs=50))


def tiny_paper_notebook(path: Path, fail: bool = False, extra_params: str = "") -> Path:
    "A minimal paper notebook: a parameters cell, `start_run`, one measurement, `save_run_results`."
    params = ('preset = "smoke"\nepochs = 3  # passes\nseed = 0\ndevice = "cpu"\n'
              + extra_params + 'out_dir: "Optional[str]" = None')
    # the kernel is another process: it finds the notebook through CXR_NB_NOTEBOOKS, not this process's PAPERS
    body = ("import os, pandas as pd\nfrom pathlib import Path\n"
            "from cxr_nb.papers.kit import start_run, save_run_results\n"
            f"run = start_run('tiny', globals(), notebook=Path(os.environ['CXR_NB_NOTEBOOKS']) / 'tiny.ipynb', presets={TINY_PRESETS!r})\n"
            + ("raise ValueError('deliberate failure')\n" if fail else "")
            + "t = pd.DataFrame([dict(metric='accuracy', paper=0.9, run=0.5 + run['epochs'] / 100)])\n"
            "save_run_results(run, t, dict(target=dict(name='none')), extra=dict(seen={k: v for k, v in run.params.items()}))")
    return write_stand_in(path, params, body)


@pytest.fixture
def tiny_paper(stand_in_paper):
    return stand_in_paper("tiny", tiny_paper_notebook, TINY_PRESETS)


def _only_run(root: Path) -> Path:
    (run,) = list((root / "tiny").iterdir())
    return run


def test_run_folder_contents(tiny_paper, tmp_path):
    before = (tiny_paper / "tiny.ipynb").read_bytes()
    assert main(["run", "tiny", "-p", "epochs", "7", "--out", str(tmp_path / "runs")]) == 0
    run = _only_run(tmp_path / "runs")
    assert sorted(p.name for p in run.iterdir()) == ["env.json", "metrics.json", "params.yaml", "tiny.html", "tiny.ipynb"]
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["table"][0]["run"] == pytest.approx(0.57)  # measured inside the notebook from epochs=7
    assert yaml.safe_load((run / "params.yaml").read_text())["epochs"] == 7
    env = json.loads((run / "env.json").read_text())
    assert env["status"] == "ok" and env["seed"] == 0 and env["packages"]["torch"]
    assert "<html" in (run / "tiny.html").read_text().lower()
    assert (tiny_paper / "tiny.ipynb").read_bytes() == before  # the source notebook is never written


def test_preset_and_explicit_default(tiny_paper, tmp_path):
    # the paper preset changes epochs to 50; an explicit -p equal to the notebook's default still wins
    assert main(["run", "tiny", "--preset", "paper", "--out", str(tmp_path / "a")]) == 0
    assert json.loads((_only_run(tmp_path / "a") / "metrics.json").read_text())["params"]["epochs"] == 50
    assert main(["run", "tiny", "--preset", "paper", "-p", "epochs", "3", "--out", str(tmp_path / "b")]) == 0
    assert json.loads((_only_run(tmp_path / "b") / "metrics.json").read_text())["params"]["epochs"] == 3


def test_new_parameter_needs_no_library_change(tiny_paper, tmp_path, capsys):
    tiny_paper_notebook(tiny_paper / "tiny.ipynb", extra_params="dropout = 0.25  # a new knob\n")
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "dropout: float = 0.25  # a new knob" in out and "epochs: int = 3" in out
    assert main(["run", "tiny", "-p", "dropout", "0.5", "--out", str(tmp_path / "runs")]) == 0
    m = json.loads((_only_run(tmp_path / "runs") / "metrics.json").read_text())
    assert m["params"]["dropout"] == 0.5 and m["extra"]["seen"]["dropout"] == 0.5


def test_wrong_type_is_refused_before_anything_is_written(tiny_paper, tmp_path, capsys):
    out = tmp_path / "runs"
    assert main(["run", "tiny", "-p", "epochs", "notanumber", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "'epochs' expects int" in err and "notanumber" in err
    assert not out.exists()
    assert main(["run", "tiny", "-p", "preset", "paper", "--out", str(out)]) == 2
    assert "--preset" in capsys.readouterr().err and not out.exists()


def test_out_is_a_file(tiny_paper, tmp_path, capsys):
    f = tmp_path / "a_file"
    f.write_text("mine")
    assert main(["run", "tiny", "--out", str(f)]) == 2
    assert "is a file" in capsys.readouterr().err and f.read_text() == "mine"


def test_failing_notebook_exits_nonzero(tiny_paper, tmp_path, capsys):
    tiny_paper_notebook(tiny_paper / "tiny.ipynb", fail=True)
    assert main(["run", "tiny", "--out", str(tmp_path / "runs")]) == 1
    err = capsys.readouterr().err
    assert "deliberate failure" in err and "tiny.ipynb" in err
    run = _only_run(tmp_path / "runs")
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
    assert "yang2021" in out and "preset smoke" in out and "preset paper" in out and "n_images: int = " in out
