"""The paper notebooks end to end through `cxr-nb run` (smoke preset): run folder contents and measured metrics."""
import json
import math

import pytest

from cxr_nb.reproduce import main
from conftest import _shared_data_root


@pytest.mark.slow
def test_yang2021_smoke_run(tmp_path):
    # CI exercises the real-data path once: the lung U-Net learns from the real JSRT masks when ../shared is
    # present; without it the phantom default runs (asking for jsrt there would rightly be an error).
    root = _shared_data_root()
    args = ["run", "yang2021", "--out", str(tmp_path)]
    if root is not None and (root / "jsrt").is_dir():
        args[2:2] = ["-p", "seg_data", "jsrt"]
    assert main(args) == 0
    (run,) = list((tmp_path / "yang2021").iterdir())
    names = {p.name for p in run.iterdir()}
    assert {"yang2021_pneumoconiosis.ipynb", "yang2021_pneumoconiosis.html", "metrics.json", "params.yaml",
            "env.json"} <= names
    m = json.loads((run / "metrics.json").read_text())
    assert m["params"]["seg_data"] == ("jsrt" if "-p" in args else "phantom")
    assert m["data"]["segmentation"]["name"] == m["params"]["seg_data"]
    assert m["data"]["target"]["fingerprint"]["files"] > 0
    rows = {r["metric"]: r for r in m["table"]}
    assert len(rows) == 4
    published = sorted(r["published"] for r in rows.values())
    assert published == pytest.approx([0.701, 0.89, 0.9246, 0.9246])
    for r in rows.values():  # phantom target data has ILO 0-3, so every row is measured
        assert r["ours"] is not None and math.isfinite(r["ours"]) and 0.0 <= r["ours"] <= 1.0, r
        assert r["95% CI"].startswith("[")
    auc = rows["binary AUC, held-out"]
    assert auc["ours"] > 0.75 and float(auc["95% CI"].strip("[]").split(",")[0]) > 0.5  # the method learns
    ex = m["extra"]
    assert 0.5 < ex["seg"]["dice_heldout"]["lungs"] <= 1.0  # the U-Net found lungs on its held-out images
    assert ex["seg_dice_target"] is not None and 0.3 < ex["seg_dice_target"] <= 1.0
    assert ex["n_images"] == m["params"]["n_images"]
    assert len(m["tables"]["binary_per_fold"]) == m["params"]["folds"]
    assert len(m["tables"]["ablation"]) == 3
    # every setting says where it comes from; the smoke values differ from the paper's and say so
    assert m["settings"]["focal_alpha"]["source"].startswith("ours")
    assert m["settings"]["epochs"]["source"].startswith("ours") and "50" in m["settings"]["epochs"]["source"]
    assert "optimiser" in m["our_assumptions"]
    env = json.loads((run / "env.json").read_text())
    assert env["status"] == "ok" and env["seed"] == m["params"]["seed"]
    html = (run / "yang2021_pneumoconiosis.html").read_text()
    assert html.count("data:image/png;base64") >= 10  # every figure rendered inline
    assert "Traceback" not in html
