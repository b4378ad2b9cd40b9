"""Tests of the on-disk cache of `cxr_nb.data.cache`: reuse, recompute, bad files, sources untouched, equality."""
import hashlib
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
import pydicom
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid, SecondaryCaptureImageStorage

import cxr_nb.data.cache as pp
from cxr_nb.boxes import map_boxes
from cxr_nb.data.cache import cache_images, prepare_cxr, read_cached, PILCachedCXR


def _phantom(seed, h=96, w=80):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    img = 0.5 + 0.3 * np.sin(6 * xx + seed) * np.cos(4 * yy) + 0.05 * rng.standard_normal((h, w))
    return np.clip(img, 0, 1)


def _write_png(path, seed, h=96, w=80):
    Image.fromarray((_phantom(seed, h, w) * 255).astype(np.uint8)).save(path)
    return path


def _write_dicom(path, arr16, bits=12):
    "A minimal uncompressed MONOCHROME2 DICOM holding `arr16` (uint16, values < 2**bits)."
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.PatientID, ds.Modality = "P1", "DX"
    ds.Rows, ds.Columns = arr16.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, bits, bits - 1, 0
    ds.PixelData = arr16.astype(np.uint16).tobytes()
    ds.save_as(str(path), enforce_file_format=True)
    return path


def _fingerprint(paths):
    "Bytes hash and mtime of every existing source (to prove the cache never modifies inputs)."
    return {str(p): (hashlib.sha1(Path(p).read_bytes()).hexdigest(), os.stat(p).st_mtime_ns)
            for p in paths if Path(p).exists()}


@pytest.fixture
def good_dir(tmp_path):
    src = tmp_path / "src"; src.mkdir()
    for k in range(4): _write_png(src / f"img{k}.png", k, 96 + 8 * k, 80)
    arr = (_phantom(9, 120, 100) * 4095).astype(np.uint16)
    _write_dicom(src / "scan.dcm", arr)
    return src


def test_reuse_on_second_call(good_dir, tmp_path):
    cdir = tmp_path / "cache"
    d1 = cache_images(good_dir, cdir, size=64, workers=2, progress=False)
    assert d1.attrs["cache_stats"] == {"computed": 5, "reused": 0, "bad": 0}
    mtimes = {p: os.stat(p).st_mtime_ns for p in d1["cache_path"]}
    time.sleep(0.02)
    d2 = cache_images(good_dir, cdir, size=64, workers=2, progress=False)
    assert d2.attrs["cache_stats"] == {"computed": 0, "reused": 5, "bad": 0}
    assert d2["cache_path"].tolist() == d1["cache_path"].tolist()
    assert {p: os.stat(p).st_mtime_ns for p in d2["cache_path"]} == mtimes   # nothing rewritten
    assert len(list(cdir.glob("*.npy"))) == 5


def test_reuse_does_not_decode(good_dir, tmp_path, monkeypatch):
    cdir = tmp_path / "cache"
    calls = []
    real = pp.prepare_cxr
    monkeypatch.setattr(pp, "prepare_cxr", lambda *a, **k: calls.append(a[0]) or real(*a, **k))
    cache_images(good_dir, cdir, size=64, workers=1, progress=False)
    assert len(calls) == 5
    cache_images(good_dir, cdir, size=64, workers=1, progress=False)
    assert len(calls) == 5   # second call read no radiograph


def test_recompute_after_touch_and_settings(good_dir, tmp_path):
    cdir = tmp_path / "cache"
    d1 = cache_images(good_dir, cdir, size=64, workers=1, progress=False)
    touched = good_dir / "img1.png"
    st = os.stat(touched)
    os.utime(touched, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    d2 = cache_images(good_dir, cdir, size=64, workers=1, progress=False)
    assert d2.attrs["cache_stats"] == {"computed": 1, "reused": 4, "bad": 0}
    changed = [a != b for a, b in zip(d1["cache_path"], d2["cache_path"])]
    assert changed == [Path(p) == touched for p in d1["path"]]
    # a replaced file with new content is recomputed and the new content is what is cached
    _write_png(touched, 42, 96 + 8, 80)
    d3 = cache_images(good_dir, cdir, size=64, workers=1, progress=False)
    assert d3.attrs["cache_stats"]["computed"] == 1
    i = d3["path"].tolist().index(str(touched))
    np.testing.assert_allclose(read_cached(d3["cache_path"].iloc[i]), prepare_cxr(touched, 64)[0], atol=1 / 255 + 1e-6)
    # new settings: everything recomputed, under new names, old arrays untouched
    d4 = cache_images(good_dir, cdir, size=48, equalize="clahe", workers=1, progress=False)
    assert d4.attrs["cache_stats"] == {"computed": 5, "reused": 0, "bad": 0}
    assert not set(d4["cache_path"]) & set(d3["cache_path"])
    assert all(np.load(p).shape == (48, 48) for p in d4["cache_path"])
    d5 = cache_images(good_dir, cdir, size=48, equalize="hist", workers=1, progress=False)
    assert d5.attrs["cache_stats"]["computed"] == 5


def test_bad_files_skipped_and_reported(good_dir, tmp_path, capsys):
    (good_dir / "notes.png").write_text("this is a text file, not a PNG")
    (good_dir / "cut.png").write_bytes((good_dir / "img0.png").read_bytes()[:120])
    (good_dir / "cut.dcm").write_bytes((good_dir / "scan.dcm").read_bytes()[:400])
    missing = good_dir / "gone.png"
    paths = sorted(str(p) for p in good_dir.iterdir()) + [str(missing)]
    before = _fingerprint(paths)
    df = pd.DataFrame({"path": paths, "label": range(len(paths))})
    out = cache_images(df, tmp_path / "cache", size=64, workers=2, progress=False)
    bad = {str(good_dir / n) for n in ("notes.png", "cut.png", "cut.dcm")} | {str(missing)}
    report = dict(out.attrs["cache_report"])
    assert set(report) == bad
    assert report[str(missing)] == "missing file"
    assert all(isinstance(r, str) and r for r in report.values())
    assert out.attrs["cache_stats"] == {"computed": 5, "reused": 0, "bad": 4}
    # good rows kept, in the input's order, with their other columns
    assert out["path"].tolist() == [p for p in paths if p not in bad]
    assert out["label"].tolist() == [i for i, p in enumerate(paths) if p not in bad]
    assert all(Path(p).is_file() for p in out["cache_path"])
    printed = capsys.readouterr().out
    assert "4 bad" in printed and "notes.png" in printed
    # flagged instead of dropped
    kept = cache_images(df, tmp_path / "cache", size=64, workers=1, progress=False, drop_bad=False)
    assert kept["path"].tolist() == paths
    assert kept["cache_path"].isna().tolist() == [p in bad for p in paths]
    assert kept["cache_error"].notna().tolist() == [p in bad for p in paths]
    # sources untouched: same bytes, same mtimes, nothing created or removed next to them
    assert _fingerprint(paths) == before
    assert not missing.exists()
    assert sorted(str(p) for p in good_dir.iterdir()) == sorted(before)


@pytest.mark.parametrize("dtype,tol", [("uint8", 1 / 255), ("uint16", 1 / 65535), ("float16", 1e-3)])
def test_cached_equals_on_the_fly(good_dir, tmp_path, dtype, tol):
    out = cache_images(good_dir, tmp_path / "cache", size=(64, 48), window="auto", dtype=dtype, workers=1, progress=False)
    assert np.load(out["cache_path"].iloc[0]).dtype == np.dtype(dtype)
    for p, c, info in zip(out["path"], out["cache_path"], out["pad_info"]):
        ref, ref_info = prepare_cxr(p, (64, 48), window="auto")
        got = read_cached(c)
        assert got.shape == (64, 48) and got.dtype == np.float32
        np.testing.assert_allclose(got, ref, atol=tol / 2 + 1e-6)
        assert info == ref_info


def test_list_input_and_pad_info(good_dir, tmp_path):
    paths = [good_dir / "img3.png", good_dir / "img0.png"]
    out = cache_images(paths, tmp_path / "cache", size=64, workers=1, progress=False)
    assert out["path"].tolist() == [str(p) for p in paths]
    info = out["pad_info"].iloc[0]
    assert info.orig_size == (120, 80) and info.size == (64, 64)
    box = map_boxes([(0, 0, 80, 120)], info)[0]
    w = round(80 * 64 / 120); left = (64 - w) // 2       # 43 px wide, 10 px of padding on the left
    np.testing.assert_allclose(box, [left, 0, left + w, 64], atol=1e-4)   # the whole image's box


@pytest.mark.shared
def test_real_jsrt_and_dicom(shared_set, tmp_path):
    imgs = sorted((shared_set("jsrt") / "images").glob("*.png"))[:3]
    dcm = sorted(shared_set("dicom").glob("*.dcm"))
    out = cache_images(imgs + dcm, tmp_path / "cache", size=256, workers=2, progress=False)
    assert out.attrs["cache_stats"] == {"computed": len(imgs) + len(dcm), "reused": 0, "bad": 0}
    for p, c in zip(out["path"], out["cache_path"]):
        np.testing.assert_allclose(read_cached(c), prepare_cxr(p, 256)[0], atol=1 / 255 / 2 + 1e-6)
        im = PILCachedCXR.create(c)
        assert im.size == (256, 256) and im.mode == "L"
    # the real DICOM is 1024x1024: a square, so no padding, and its lungs darker than the mediastinum
    if dcm:
        info = out["pad_info"].iloc[-1]
        assert info.orig_size == (1024, 1024) and info.offset == (0, 0)
        a = read_cached(out["cache_path"].iloc[-1])
        assert a[96:160, 40:90].mean() < a[96:160, 118:138].mean()
