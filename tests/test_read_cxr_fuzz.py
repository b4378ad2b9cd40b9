"""Property-based tests of `read_cxr` on mutated bytes of real files (issue 15).

Whatever is done to a radiograph file (cut short, bytes flipped, wrong extension), `read_cxr` returns a
float32 2-D array in [0, 1], or raises a `CXRReadError` naming that path; never another exception.
The files: phantoms written by the package (8- and 16-bit PNG, JPEG, TIFF, DICOM) and, when
../shared/data is present, a real DICOM and a real JSRT PNG. Bounded and derandomized: seconds in CI."""
import shutil
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis", reason="hypothesis is in the dev extra: pip install -e '.[dev]'")
from hypothesis import HealthCheck, given, settings, strategies as st

from cxr_nb.io import CXRReadError, read_cxr
from cxr_nb.phantom.render import make_phantom

SETTINGS = settings(max_examples=40, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
_FILES: dict = {}


def _sources(tmp_root: Path) -> dict:
    "name -> bytes of each source file (made once per session)."
    if _FILES: return _FILES
    from cxr_nb.phantom.layouts import _dicom
    img = make_phantom(0, 48)["image"]
    d = tmp_root / "src"; d.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(d / "a8.png"), (img * 255).astype(np.uint8))
    cv2.imwrite(str(d / "a16.png"), (img * 65535).astype(np.uint16))
    cv2.imwrite(str(d / "a.jpeg"), (img * 255).astype(np.uint8))
    cv2.imwrite(str(d / "a.tif"), (img * 65535).astype(np.uint16))
    _dicom(d / "a.dcm", img, "P1", "F", 40, "PA")
    shared = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
    real = [*sorted((shared / "dicom").glob("*.dcm"))[:1], *sorted((shared / "jsrt" / "images").glob("*.png"))[:1]]
    for p in real:
        if p.stat().st_size < 3_000_000: shutil.copy(p, d / f"real_{p.name}")
    for p in sorted(d.iterdir()):
        _FILES[p.name] = (p.read_bytes(), read_cxr(p)[0].shape)
    return _FILES


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    return _sources(tmp_path_factory.mktemp("fuzz"))


def _check(path: Path, expect_shape=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            img, meta = read_cxr(path)
        except CXRReadError as e:
            assert Path(e.path) == path and str(path) in str(e)
            return "error"
    assert isinstance(img, np.ndarray) and img.dtype == np.float32 and img.ndim == 2 and min(img.shape) >= 1
    assert np.isfinite(img).all() and img.min() >= 0 and img.max() <= 1
    if expect_shape is not None: assert img.shape == expect_shape
    return "ok"


_NAMES = ["a8.png", "a16.png", "a.jpeg", "a.tif", "a.dcm"]


@SETTINGS
@given(name=st.sampled_from(_NAMES), frac=st.floats(0, 1, exclude_max=True))
def test_truncated_files(sources, tmp_path, name, frac):
    data, _ = sources[name]
    f = tmp_path / f"cut_{name}"
    f.write_bytes(data[: int(len(data) * frac)])
    _check(f)


@SETTINGS
@given(name=st.sampled_from(_NAMES), flips=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(1, 255)),
                                                    min_size=1, max_size=8))
def test_flipped_bytes(sources, tmp_path, name, flips):
    data, _ = sources[name]
    b = bytearray(data)
    for pos, x in flips:
        b[int(pos * len(b))] ^= x
    f = tmp_path / f"flip_{name}"
    f.write_bytes(bytes(b))
    _check(f)


@SETTINGS
@given(name=st.sampled_from(_NAMES), ext=st.sampled_from([".png", ".jpg", ".dcm", ".tif", ".img", ".txt", ""]))
def test_wrong_extensions_still_read_by_content(sources, tmp_path, name, ext):
    data, shape = sources[name]
    f = tmp_path / f"renamed{ext}"
    f.write_bytes(data)
    assert _check(f, shape) == "ok"   # the format is decided by the content: an intact file always reads


def test_real_files_when_present(sources, tmp_path):
    real = [n for n in sources if n.startswith("real_")]
    if not real: pytest.skip("real data not found in ../shared/data")
    rng = np.random.default_rng(0)
    for n in real:
        data, shape = sources[n]
        for k in range(15):   # fixed mutations of the real files: cuts and flips
            b = bytearray(data[: int(len(data) * rng.uniform(0.05, 1))] if k % 2 else data)
            for _ in range(int(rng.integers(1, 6))): b[int(rng.integers(len(b)))] ^= int(rng.integers(1, 256))
            f = tmp_path / f"{k}_{n}"; f.write_bytes(bytes(b))
            _check(f)
        f = tmp_path / f"{n}.renamed.jpg"; f.write_bytes(data)
        assert _check(f, shape) == "ok"
