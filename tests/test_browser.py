"""The explorers in a real JupyterLab, in a real browser.

A headless JupyterLab on 127.0.0.1 (a free port, a random token, its own config, settings and
workspace folders) opens a notebook that builds the radiograph viewer and the operating point
explorer; Debian's Chromium, driven by Playwright (`pip install -e ".[dev]"`; no browser download:
Playwright is pointed at the system Chromium), runs the cells, drags the threshold slider and types a
target sensitivity, and the test checks that the displayed TPR follows and that no widget error
appears. Screenshots go to test-artifacts/browser/ (CXR_TEST_ARTIFACTS overrides; ignored by git).
The server is always shut down. Without Chromium (or Playwright) the test is skipped, saying why;
CXR_CHROMIUM names a Chromium binary elsewhere.

    python -m pytest -q tests/test_browser.py     # about 30-60 s
"""
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow
EXTRA = os.environ.get("CXR_BROWSER_ALL", "1") != "0"


def _chromium():
    "Path of a Chromium binary (CXR_CHROMIUM, else chromium / chromium-browser on PATH), or None."
    env = os.environ.get("CXR_CHROMIUM")
    if env:
        return env if Path(env).is_file() else None
    for name in ("chromium", "chromium-browser"):
        p = shutil.which(name)
        if p:
            return p
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _code(src: str) -> dict:
    return {"cell_type": "code", "execution_count": None, "id": secrets.token_hex(4), "metadata": {},
            "outputs": [], "source": src}


def _write_notebook(folder: Path) -> Path:
    "A notebook a student would write: phantoms (PNG with masks, DICOM with boxes), then one line per explorer."
    ph = folder / "phantoms"
    cells = [
        _code("import numpy as np, pandas as pd\n"
              "from cxr_nb.data.datasets import load_phantom\n"
              "from cxr_nb.explore.widgets import radiograph_viewer, operating_point_explorer, explorers_live\n"
              f"jsrt = load_phantom('jsrt', n=6, size=160, root={str(ph / 'jsrt')!r})\n"
              f"rsna = load_phantom('rsna', n=6, size=160, root={str(ph / 'rsna')!r})\n"
              "df = pd.concat([jsrt, rsna.sort_values('label')], ignore_index=True)  # a DICOM with boxes last\n"
              "rng = np.random.default_rng(0)\n"
              "y = rng.integers(0, 2, 400)\n"
              "scores = 1 / (1 + np.exp(-(2 * y - 1) * 1.2 - rng.normal(0, 1, 400)))\n"
              "print('live widgets:', explorers_live())"),
        _code("radiograph_viewer(df, title='Radiograph viewer (phantoms: JSRT layout, then RSNA DICOMs)')"),
        _code("operating_point_explorer(y, scores, title='Operating point explorer (synthetic scores)')"),
    ]
    if EXTRA:  # the two other explorers, for their screenshots (CXR_BROWSER_ALL=0 leaves them out)
        cells += [
            _code("from cxr_nb.explore.run_widgets import batch_control_explorer, prediction_browser\n"
                  "paper_means = {'P100': (.93, .77), 'P83': (.80, .25), 'P66': (.70, .14), 'P50': (.62, .07),\n"
                  "               'P33': (.55, .04), 'P17': (.50, .03), 'RAND': (.46, .02)}\n"
                  "trials = pd.DataFrame([dict(scheme=s, trial=t, tpr=min(1, tp + d), fpr=max(0, fp - d / 2))\n"
                  "                       for s, (tp, fp) in paper_means.items() for t, d in enumerate((-.03, .03))])\n"
                  "labels = (np.arange(200) % 9 < 2).astype(int)   # 22 % positive, like RSNA\n"
                  "batch_control_explorer(labels, bs=6, k=1, trials=trials, title='Batch control explorer (made-up trials)')"),
            _code("import warnings\n"
                  "from cxr_nb.data.splits import patient_kfold\n"
                  "from cxr_nb.data.dataloaders import classification_dls\n"
                  "from cxr_nb.classify.learner import cxr_learner\n"
                  "from cxr_nb.classify.runners import run_folds\n"
                  "from cxr_nb.io import PILCXR\n"
                  f"folds = patient_kfold(load_phantom('jsrt', n=24, size=96, root={str(ph / 'jsrt24')!r}), n_splits=2)\n"
                  "def build(tr, va, seed):\n"
                  "    dls = classification_dls(pd.concat([tr, va]), size=64, bs=8, valid_fold=int(va.fold.iloc[0]),\n"
                  "                             aug=False, num_workers=0, img_cls=PILCXR)\n"
                  "    return cxr_learner(dls, arch='small_cnn', pretrained=False, metrics=[])\n"
                  "with warnings.catch_warnings():\n"
                  "    warnings.simplefilter('ignore')\n"
                  "    res = run_folds(folds, build, fit=lambda l: l.fit(3, 1e-2), folds=[0])\n"
                  "prediction_browser(res, folds, learn=res.learner, title='Prediction browser (a 3-epoch CNN on phantoms)')"),
        ]
    nb = {"cells": cells, "nbformat": 4, "nbformat_minor": 5,
          "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}}}
    path = folder / "explorers.ipynb"
    path.write_text(json.dumps(nb, indent=1))
    return path


def _lab_settings(folder: Path) -> Path:
    "User settings without the news and update pop-ups, which would cover the notebook."
    d = folder / "settings" / "@jupyterlab" / "apputils-extension"
    d.mkdir(parents=True)
    (d / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    return folder / "settings"


def _get(url: str, timeout: float = 2.0):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.loads(r.read() or b"null")


class _Lab:
    "A JupyterLab server in a subprocess; `stop()` shuts its kernels down and ends it (always called)."

    def __init__(self, root: Path, log: Path):
        self.port, self.token = _free_port(), secrets.token_hex(16)
        self.base = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("JPY_", "CXR_NB_WIDGETS"))}
        env.update(JUPYTER_CONFIG_DIR=str(root / "config"), JUPYTER_RUNTIME_DIR=str(root / "runtime"),
                   MPLBACKEND="Agg", OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
        cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
               f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0",
               f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={root}",
               f"--LabApp.user_settings_dir={_lab_settings(root)}", f"--LabApp.workspaces_dir={root / 'workspaces'}",
               "--LabApp.expose_app_in_browser=True", "--ServerApp.terminals_enabled=False"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.append("--allow-root")  # containers and CI runners often run as root
        self.log = log
        self.proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def url(self, path: str) -> str:
        return f"{self.base}{path}{'&' if '?' in path else '?'}token={self.token}"

    def wait_ready(self, timeout: float = 60):
        t0 = time.time()
        while time.time() - t0 < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited with {self.proc.returncode}:\n{self.log.read_text()[-3000:]}")
            try:
                _get(self.url("/api/status"))
                return
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.3)
        raise RuntimeError(f"jupyter lab did not answer within {timeout} s:\n{self.log.read_text()[-3000:]}")

    def stop(self):
        if self.proc.poll() is None:
            try:  # kernels first (they run in sessions of their own), then the server
                for k in _get(self.url("/api/kernels")) or []:
                    req = urllib.request.Request(self.url(f"/api/kernels/{k['id']}"), method="DELETE")
                    urllib.request.urlopen(req, timeout=10).close()
            except Exception:
                pass
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)


def _artifacts() -> Path:
    d = Path(os.environ.get("CXR_TEST_ARTIFACTS", REPO / "test-artifacts")) / "browser"
    d.mkdir(parents=True, exist_ok=True)
    return d


# JavaScript: the text of one value of the operating point explorer's rates (the table is redrawn, so look it up afresh)
OP_VALUE = "(k => document.querySelectorAll('.cxr-explorer')[1].querySelector('.cxr-' + k).textContent.trim())"


def _widget_errors(page) -> list:
    "Every sign of a broken widget or a failing cell on the page."
    found = [f"explorer error: {t}" for t in page.locator(".cxr-explorer-error").all_inner_texts()]
    for t in page.locator(".jp-OutputArea-output").all_inner_texts():
        if re.search(r"Error displaying widget|Error rendering|Failed to (load|create) (model|view)|Traceback", t):
            found.append(f"output: {t[:300]}")
    return found


def test_explorers_in_jupyterlab(tmp_path):
    chromium = _chromium()
    if chromium is None:
        where = (f"CXR_CHROMIUM={os.environ['CXR_CHROMIUM']} is no file" if os.environ.get("CXR_CHROMIUM")
                 else "no chromium or chromium-browser on PATH")
        pytest.skip(f"Chromium not found ({where}; install Debian's `chromium` package, as scripts/dev.sh test does, "
                    "or set CXR_CHROMIUM): the browser test of the explorers is skipped")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("Playwright is not installed (pip install -e '.[dev]'): the browser test is skipped")

    out = _artifacts()
    for old in out.glob("*.png"):
        old.unlink()
    _write_notebook(tmp_path)
    lab = _Lab(tmp_path, out / "jupyterlab.log")
    try:
        lab.wait_ready()
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, headless=True,
                                        args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
            try:
                page = browser.new_page(viewport={"width": 1500, "height": 1100})
                console = []
                page.on("console", lambda m: console.append(f"{m.type}: {m.text}") if m.type == "error" else None)
                page.goto(lab.url("/lab/tree/explorers.ipynb"), wait_until="domcontentloaded", timeout=60_000)
                page.wait_for_function("window.jupyterapp && window.jupyterapp.shell.currentWidget"
                                       " && window.jupyterapp.shell.currentWidget.sessionContext", timeout=60_000)
                # wait for the kernel, then run every cell as a student would (Run > Run All Cells)
                page.evaluate("async () => { const w = window.jupyterapp.shell.currentWidget;"
                              " await w.context.ready; await w.sessionContext.ready; }")
                page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
                page.wait_for_selector(".cxr-rates-box .cxr-tpr", timeout=120_000)
                page.wait_for_function("document.querySelectorAll('.cxr-explorer img').length >= 2"
                                       " && [...document.querySelectorAll('.cxr-explorer img')]"
                                       ".every(i => i.complete && i.naturalWidth > 0)", timeout=60_000)
                assert "live widgets: True" in page.locator(".jp-OutputArea-output").first.inner_text()
                n_explorers = 4 if EXTRA else 2
                page.wait_for_function(f"document.querySelectorAll('.cxr-explorer img').length >= {n_explorers}"
                                       " && [...document.querySelectorAll('.cxr-explorer img')]"
                                       ".every(i => i.complete && i.naturalWidth > 0)", timeout=120_000)
                explorers = page.locator(".cxr-explorer")
                assert explorers.count() == n_explorers
                viewer, op = explorers.nth(0), explorers.nth(1)
                viewer.scroll_into_view_if_needed()
                viewer.screenshot(path=str(out / "1_radiograph_viewer.png"))
                op.scroll_into_view_if_needed()
                op.screenshot(path=str(out / "2_operating_point_start.png"))

                tpr = lambda: float(op.locator(".cxr-tpr").inner_text())
                thr = lambda: float(op.locator(".cxr-threshold").inner_text())
                tpr0, thr0 = tpr(), thr()
                assert thr0 == pytest.approx(0.5)

                # drag the threshold slider's handle to a fifth of its track
                track = op.locator(".cxr-threshold-slider .noUi-target").first
                handle = op.locator(".cxr-threshold-slider .noUi-handle").first
                tb, hb = track.bounding_box(), handle.bounding_box()
                page.mouse.move(hb["x"] + hb["width"] / 2, hb["y"] + hb["height"] / 2)
                page.mouse.down()
                page.mouse.move(tb["x"] + 0.2 * tb["width"], hb["y"] + hb["height"] / 2, steps=12)
                page.mouse.up()
                # the slider updates the kernel as it moves: wait until the last position is shown
                page.wait_for_function(f"parseFloat({OP_VALUE}('threshold')) < 0.3", timeout=30_000)
                tpr1, thr1 = tpr(), thr()
                assert 0.1 < thr1 < 0.3, thr1
                assert tpr1 > tpr0, (tpr0, tpr1)   # a lower threshold calls more cases positive
                page.wait_for_timeout(800)         # the redrawn picture
                op.screenshot(path=str(out / "3_operating_point_dragged.png"))

                # a target sensitivity moves the slider (threshold_for_target)
                box = op.locator(".widget-text input").first
                box.fill("0.6")
                box.press("Enter")
                page.wait_for_function(f"{OP_VALUE}('threshold') !== '{thr1:.4f}'", timeout=30_000)
                assert thr() > thr1 and tpr() >= 0.6, (thr(), tpr())
                page.wait_for_timeout(800)
                op.screenshot(path=str(out / "4_operating_point_target.png"))

                # the viewer reacts too: CLAHE on
                viewer.scroll_into_view_if_needed()
                src0 = viewer.locator("img").first.get_attribute("src")
                viewer.get_by_role("button", name="CLAHE").click()
                page.wait_for_function("old => document.querySelectorAll('.cxr-explorer')[0]"
                                       ".querySelector('img').getAttribute('src') !== old", arg=src0, timeout=30_000)
                page.wait_for_timeout(500)
                viewer.screenshot(path=str(out / "5_radiograph_viewer_clahe.png"))
                # the last case, a DICOM: its header table
                case = viewer.locator(".widget-slider .noUi-target").first
                cb, ch = case.bounding_box(), viewer.locator(".widget-slider .noUi-handle").first.bounding_box()
                page.mouse.move(ch["x"] + ch["width"] / 2, ch["y"] + ch["height"] / 2)
                page.mouse.down()
                page.mouse.move(cb["x"] + cb["width"] + 20, ch["y"] + ch["height"] / 2, steps=8)
                page.mouse.up()
                page.wait_for_function("document.querySelectorAll('.cxr-explorer')[0].textContent.includes('PatientID')",
                                       timeout=30_000)
                page.wait_for_timeout(800)
                viewer.screenshot(path=str(out / "6_radiograph_viewer_dicom.png"))
                if EXTRA:
                    for i, name in ((2, "7_batch_control.png"), (3, "8_prediction_browser.png")):
                        explorers.nth(i).scroll_into_view_if_needed()
                        explorers.nth(i).screenshot(path=str(out / name))
                page.screenshot(path=str(out / "0_page.png"))

                errors = _widget_errors(page)
                assert not errors, errors
                assert not [c for c in console if "widget" in c.lower()], console
            except Exception:
                if "page" in locals():
                    page.screenshot(path=str(out / "failure.png"))
                raise
            finally:
                browser.close()
    finally:
        lab.stop()
    assert lab.proc.poll() is not None
