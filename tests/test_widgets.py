"""The explorers of cxr_nb.explore.widgets and cxr_nb.explore.run_widgets degrade to static figures where no frontend draws widgets.

Their logic is tested in nbs/60_explore.widgets.ipynb and nbs/61_explore.run_widgets.ipynb; tests/test_browser.py opens them in a real
JupyterLab. Here a notebook that calls all four is executed by papermill (a real kernel, as
`cxr-nb run` uses, but no frontend): every explorer cell must leave a PNG and no widget.
"""
import json
import os

import pytest

pm = pytest.importorskip("papermill")

CODE = """
import numpy as np, pandas as pd
from cxr_nb.data.datasets import load_phantom
from cxr_nb.explore.widgets import *
from cxr_nb.explore.run_widgets import *
jsrt = load_phantom('jsrt', n=6, size=96, root=ROOT)
rng = np.random.default_rng(0)
y = rng.integers(0, 2, 200)
scores = np.clip(y * 0.4 + rng.random(200) * 0.6, 0, 1)
preds = pd.DataFrame(dict(fold=0, row=jsrt.index, path=jsrt.path, target=jsrt.label.astype(int).to_numpy(),
                          prob_0=np.linspace(.9, .1, len(jsrt))))
preds["prob_1"] = 1 - preds.prob_0
trials = pd.DataFrame(dict(scheme=["P100", "P50", "RAND"], tpr=[.9, .6, .4], fpr=[.7, .1, .02]))
print("live:", explorers_live())
"""
EXPLORERS = ["radiograph_viewer(jsrt)",
             "operating_point_explorer(y, scores, target_sensitivity=0.8)",
             "batch_control_explorer(y, bs=6, k=2, trials=trials)",
             "prediction_browser(preds, jsrt)"]


def _cell(src):
    return {"cell_type": "code", "execution_count": None, "id": f"c{abs(hash(src)) % 10**8:08d}", "metadata": {},
            "outputs": [], "source": src}


@pytest.mark.slow
def test_static_figures_under_papermill(tmp_path, monkeypatch):
    monkeypatch.delenv("CXR_NB_WIDGETS", raising=False)
    monkeypatch.setenv("JPY_SESSION_NAME", "inherited-from-a-jupyterlab-kernel.ipynb")  # must not fool the check
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    nb = {"cells": [_cell(f"ROOT = {str(tmp_path / 'ph')!r}" + CODE)] + [_cell(e) for e in EXPLORERS],
          "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
          "nbformat": 4, "nbformat_minor": 5}
    src, out = tmp_path / "explorers.ipynb", tmp_path / "explorers.out.ipynb"
    src.write_text(json.dumps(nb))
    pm.execute_notebook(str(src), str(out), kernel_name="python3", cwd=str(tmp_path), progress_bar=False)
    cells = json.loads(out.read_text())["cells"]
    assert "live: False" in "".join("".join(o.get("text", "")) for o in cells[0]["outputs"])
    for explorer, cell in zip(EXPLORERS, cells[1:]):
        kinds = [k for o in cell["outputs"] for k in o.get("data", {})]
        assert "image/png" in kinds, (explorer, kinds)
        assert "application/vnd.jupyter.widget-view+json" not in kinds, (explorer, kinds)
