"""The package's layout (issue 23): a wheel built from the repository holds and imports every subpackage, no old
flat module path is left anywhere, and a Segmenter saved under the old flat layout still loads and predicts."""
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def _modules(root: Path) -> set:
    return {p.relative_to(root).with_suffix("").as_posix().replace("/", ".").removesuffix(".__init__")
            for p in (root / "cxr_nb").rglob("*.py")}


def test_no_old_flat_module_path_is_left():
    r = subprocess.run([sys.executable, str(REPO / "scripts" / "relayout.py"), "--check"], cwd=REPO,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_every_subpackage_folder_is_a_package():
    for d in (REPO / "cxr_nb").iterdir():
        if d.is_dir() and d.name != "__pycache__":
            assert (d / "__init__.py").is_file(), f"{d} has no __init__.py: setuptools would leave it out of the wheel"


def test_a_wheel_built_from_the_repo_imports_every_subpackage(tmp_path):
    pytest.importorskip("setuptools")
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                        "-w", str(tmp_path / "dist"), str(REPO)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    (whl,) = (tmp_path / "dist").glob("cxr_nb-*.whl")
    with zipfile.ZipFile(whl) as z:
        z.extractall(tmp_path / "site")
    want = _modules(REPO)
    assert _modules(tmp_path / "site") == want, "the wheel's modules differ from the repository's"
    subpackages = sorted(m for m in want if (REPO / m.replace(".", "/")).is_dir())
    assert {"cxr_nb.data", "cxr_nb.seg", "cxr_nb.classify", "cxr_nb.papers"} <= set(subpackages)
    code = ("import importlib, cxr_nb, sys\n"
            f"assert cxr_nb.__file__.startswith({str(tmp_path / 'site')!r}), cxr_nb.__file__\n"
            f"for m in {sorted(want)!r}: importlib.import_module(m)\n"
            "print('ok')")
    # -I: ignore PYTHONPATH and the user site, so the wheel's copy (first on sys.path) is the one imported
    r = subprocess.run([sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(tmp_path / 'site')!r})\n" + code],
                       cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip().endswith("ok"), r.stdout + r.stderr


def test_a_segmenter_saved_under_the_flat_layout_loads_and_predicts_the_same():
    """`segmenter_flat_layout.pt` was saved by cxr_nb before the subpackages (cxr_nb.segment, commit e04ed80);
    its logits on a fixed input were saved beside it by that version."""
    torch = pytest.importorskip("torch")
    from cxr_nb.seg.segmenter import Segmenter
    s = Segmenter.load(FIXTURES / "segmenter_flat_layout.pt")
    assert s.structures == ["lungs"] and s.size == 32
    x = torch.rand(1, 1, 32, 32, generator=torch.Generator().manual_seed(1))
    s.model.eval()
    with torch.no_grad():
        y = s.model(x)
    np.testing.assert_allclose(y.numpy(), np.load(FIXTURES / "segmenter_flat_layout_logits.npy"), atol=1e-4)
