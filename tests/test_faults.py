"""Issue 26: faults of the machine under the package, injected for real (no mocks of the writers).

- full disk: a small tmpfs mounted here (as root; skipped with a message elsewhere), filled with a filler file;
- an OSError-raising disk: `os.fsync` fails with ENOSPC at the k-th file written (every writer goes through
  `cxr_nb.io.atomic_write`, which fsyncs each file before renaming it), for the same writers, without root;
- read-only: a tmpfs remounted read-only (root ignores `chmod`), or `chmod 0555` when not root;
- two real processes on one cache folder; a real subprocess killed with SIGKILL in the middle of a write;
- the command line's checks of data and file parameters, header/content disagreements, and the internal
  errors left from the last round; and a scan of the package for a direct write outside `atomic_write`.

After each fault the files written before are intact (hashed), no partial file sits under a final name, and a
rerun gives exactly the files of an undisturbed run (compared by hash, the folder's own path replaced)."""
import ast
import errno
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import cxr_nb.io as cio
from cxr_nb.io import OutputError, atomic_write
from cxr_nb.data.cache import cache_images, cache_shards, expand_brightness_levels, prepare_cxr, read_cached

REPO = Path(__file__).resolve().parent.parent
IS_ROOT = os.geteuid() == 0
PAGE = 4096


# ---------------------------------------------------------------- helpers

def tree(root, skip_tmp=True) -> dict:
    "Relative path -> sha256 of every file under `root`, the folder's own path replaced in the bytes (indexes name it)."
    root = Path(root)
    out = {}
    for p in sorted(root.rglob("*")):
        if not p.is_file() or (skip_tmp and p.name.endswith(".tmp")): continue
        b = p.read_bytes().replace(str(root.resolve()).encode(), b"<ROOT>").replace(str(root).encode(), b"<ROOT>")
        out[p.relative_to(root).as_posix()] = hashlib.sha256(b).hexdigest()
    return out


def leftovers(root) -> list:
    return sorted(p.name for p in Path(root).rglob("*.tmp"))


def make_films(folder, n=12) -> Path:
    rng = np.random.default_rng(0)
    folder = Path(folder); folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.fromarray((rng.random((40 + i, 44)) * 255).astype(np.uint8)).save(folder / f"f{i:02d}.png")
    return folder


@pytest.fixture
def films(tmp_path):
    return make_films(tmp_path / "films")


def _can_mount() -> str | None:
    "None when a tmpfs can be mounted here, else why not."
    if not IS_ROOT: return "not root: a small tmpfs for a full disk needs mount(8) as root"
    return None


@contextmanager
def tmpfs(path, size_kb):
    why = _can_mount()
    if why: pytest.skip(why)
    path = Path(path); path.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(path)], capture_output=True, text=True)
    if r.returncode: pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    try: yield path
    finally:
        subprocess.run(["umount", str(path)], capture_output=True)


def fill(folder, leave_pages=0) -> Path:
    "Fill the file system of `folder` with a filler file, then give back `leave_pages` pages."
    f = Path(folder) / "filler"
    with open(f, "wb", buffering=0) as fh:
        try:
            while True:
                fh.write(b"\0" * PAGE); fh.flush()
        except OSError as e:
            assert e.errno == errno.ENOSPC
    if leave_pages: os.truncate(f, max(0, f.stat().st_size - leave_pages * PAGE))
    return f


@contextmanager
def read_only(folder):
    "`folder` read-only for this process: a tmpfs remounted ro as root, `chmod 0555` otherwise."
    folder = Path(folder)
    if IS_ROOT:
        r = subprocess.run(["mount", "-o", "remount,ro", str(folder)], capture_output=True, text=True)
        if r.returncode: pytest.skip(f"cannot remount read-only: {r.stderr.strip()}")
        try: yield
        finally: subprocess.run(["mount", "-o", "remount,rw", str(folder)], capture_output=True)
    else:
        modes = {p: p.stat().st_mode for p in [folder, *folder.rglob("*")] if p.is_dir()}
        for p in modes: p.chmod(0o555)
        try: yield
        finally:
            for p, m in modes.items(): p.chmod(m)


@contextmanager
def rw_folder(tmp_path, name="out", size_kb=4096):
    "A folder that `read_only` can make read-only: its own tmpfs as root, a plain folder otherwise."
    if IS_ROOT:
        with tmpfs(tmp_path / name, size_kb) as d: yield d
    else:
        d = tmp_path / name; d.mkdir(); yield d


@contextmanager
def failing_disk(after: int):
    "Every file written through `atomic_write` after the first `after` ones fails with ENOSPC (at its fsync)."
    real, calls = os.fsync, [0]
    def fsync(fd):
        calls[0] += 1
        if calls[0] > after: raise OSError(errno.ENOSPC, "No space left on device")
        return real(fd)
    os.fsync = fsync
    try: yield calls
    finally: os.fsync = real


def entries_complete(cache) -> int:
    "Every array+index pair of a cache_images folder reads; returns how many there are."
    n = 0
    for j in Path(cache).glob("*.json"):
        info = json.loads(j.read_text())["info"]
        assert np.load(j.with_suffix(".npy")).ndim == 2 and "orig_size" in info
        n += 1
    return n


def _cache(films, cache, **kw):
    return cache_images(films, cache, size=32, workers=1, progress=False, verbose=False, **kw)


def _shards(films, cache, **kw):
    return cache_shards(films, cache, size=32, shard_size=4, workers=1, progress=False, verbose=False, **kw)


def _segmenter(seed):
    import torch
    from cxr_nb.seg.segmenter import Segmenter
    from cxr_nb.seg.nets import seg_model
    torch.manual_seed(seed)
    return Segmenter(seg_model("unet", 2, size=32, width=4, depth=2, pretrained=False), ["lungs"], size=32,
                     model_kwargs=dict(width=4, depth=2))


def _state_equal(a, b) -> bool:
    sa, sb = a.model.state_dict(), b.model.state_dict()
    return sa.keys() == sb.keys() and all(bool((sa[k].cpu() == sb[k].cpu()).all()) for k in sa)


# ---------------------------------------------------------------- class 1: a full disk (tmpfs)

def test_full_disk_cache_images_stops_naming_the_folder(films, tmp_path, capsys):
    _cache(films, tmp_path / "ref"); ref = tree(tmp_path / "ref")
    with tmpfs(tmp_path / "disk", 512) as disk:
        cache = disk / "cache"; cache.mkdir()
        filler = fill(disk, leave_pages=7)  # the probe, then three entries of two pages; the fourth finds no room
        with pytest.raises(OutputError) as e:
            cache_images(films, cache, size=32, workers=1, progress=False)
        assert e.value.errno == errno.ENOSPC and str(cache) in str(e.value) and "No space left" in str(e.value)
        out = capsys.readouterr().out
        assert "bad" not in out and "skipped" not in out  # no source blamed
        written = entries_complete(cache)
        assert 1 <= written < len(ref) // 2 and leftovers(cache) == []
        before = tree(cache)
        filler.unlink()
        df = _cache(films, cache)
        assert df.attrs["cache_stats"] == {"computed": 12 - written, "reused": written, "bad": 0}
        assert {k: v for k, v in tree(cache).items() if k in before} == before and tree(cache) == ref


def test_full_disk_cache_shards_keeps_finished_shards(films, tmp_path):
    _shards(films, tmp_path / "ref"); ref = tree(tmp_path / "ref")
    with tmpfs(tmp_path / "disk", 512) as disk:
        cache = disk / "cache"; cache.mkdir()
        filler = fill(disk, leave_pages=5)  # probe; one shard (2 pages) and its index; not the second shard
        with pytest.raises(OutputError, match=rf"cache_shards: cannot write to the output folder {cache}: No space left"):
            _shards(films, cache)
        assert leftovers(cache) == [] and len(list(cache.glob("shard-*.json"))) == 1
        before = tree(cache)
        filler.unlink()
        again = _shards(films, cache)
        assert again.attrs["cache_stats"]["shards_reused"] == 1
        assert {k: tree(cache)[k] for k in before} == before and tree(cache) == ref


def test_full_disk_segmenter_save_keeps_the_old_model(tmp_path):
    from cxr_nb.seg.segmenter import Segmenter
    with tmpfs(tmp_path / "disk", 1024) as disk:
        f = _segmenter(0).save(disk / "seg.pt")
        old = hashlib.sha256(f.read_bytes()).hexdigest()
        filler = fill(disk)
        new = _segmenter(1)
        with pytest.raises(OutputError, match=rf"Segmenter.save: cannot write to the output folder {disk}: No space left"):
            new.save(f, overwrite=True)
        assert hashlib.sha256(f.read_bytes()).hexdigest() == old and leftovers(disk) == []
        assert _state_equal(Segmenter.load(f, device="cpu"), _segmenter(0))
        filler.unlink()
        new.save(f, overwrite=True)
        assert _state_equal(Segmenter.load(f, device="cpu"), new)


def test_full_disk_load_phantom_leaves_no_half_set(tmp_path):
    from cxr_nb.data.datasets import load_phantom
    load_phantom("jsrt", 4, root=tmp_path / "ref", size=32)
    with tmpfs(tmp_path / "disk", 256) as disk:
        filler = fill(disk, leave_pages=6)
        with pytest.raises(OutputError, match=rf"load_phantom: cannot write to the output folder {disk}: No space left"):
            load_phantom("jsrt", 4, root=disk / "ph", size=32)
        assert not (disk / "ph").exists() and [p.name for p in disk.iterdir()] == ["filler"]
        filler.unlink()
        df = load_phantom("jsrt", 4, root=disk / "ph", size=32)
        assert len(df) == 4 and tree(disk / "ph") == tree(tmp_path / "ref")


# ---------------------------------------------------------------- class 1b: an OSError-raising disk, every writer

def _run_cache(films, out): _cache(films, out / "c")
def _run_shards(films, out): _shards(films, out / "c")
def _run_levels(films, out):
    df = _cache(films, out / "c")
    expand_brightness_levels(df.assign(path=df.cache_path), out / "levels", n=3)
def _run_seg(films, out):
    out.mkdir(parents=True, exist_ok=True)
    _segmenter(0).save(out / "seg.pt", overwrite=True)
    _segmenter(1).save(out / "seg.pt", overwrite=True)
def _run_layout(layout):
    def run(films, out):
        from cxr_nb.phantom.layouts import (write_jsrt_layout, write_kermany_layout, write_nih_layout,
                                            write_pneumoconiosis_layout, write_rsna_layout)
        w = dict(jsrt=write_jsrt_layout, rsna=write_rsna_layout, nih=write_nih_layout, kermany=write_kermany_layout,
                 pneumoconiosis=lambda r, n, size: write_pneumoconiosis_layout(r, n, size=size, fmt="dicom"))[layout]
        w(out / "layout", 4, size=32)
    return run
def _run_box_masks(films, out):
    from cxr_nb.data.files import write_box_masks
    df = pd.DataFrame({"path": [str(p) for p in sorted(films.glob("*.png"))[:4]], "height": 40, "width": 44,
                       "boxes": [[(2, 2, 20, 20)]] * 4})
    write_box_masks(df, out / "masks")
def _run_metrics(films, out):
    from cxr_nb.papers.kit import Run, save_run_results
    import torch
    run = Run("stand_in", dict(preset="smoke", seed=0), out / "run", torch.device("cpu"), 0)
    save_run_results(run, pd.DataFrame({"metric": ["AUC"], "ours": [0.5]}), {"target": {"name": "phantom"}})

WRITER_RUNS = {"cache_images": _run_cache, "cache_shards": _run_shards, "expand_brightness_levels": _run_levels,
               "Segmenter.save": _run_seg, "write_box_masks": _run_box_masks, "save_run_results": _run_metrics,
               **{f"write_{k}_layout": _run_layout(k) for k in ("jsrt", "rsna", "nih", "kermany", "pneumoconiosis")}}


@pytest.mark.parametrize("name", sorted(WRITER_RUNS))
def test_failing_disk_leaves_only_whole_files(films, tmp_path, name):
    run = WRITER_RUNS[name]
    with failing_disk(10 ** 9) as calls:  # counts the files written
        run(films, tmp_path / "ref")
    ref, n_writes = tree(tmp_path / "ref"), calls[0]
    for after in sorted({0, n_writes // 2, n_writes - 1}):
        out = tmp_path / f"faulty{after}"
        with failing_disk(after), pytest.raises(OSError, match="No space left"):
            run(films, out)
        got = tree(out) if out.exists() else {}
        assert (leftovers(out) if out.exists() else []) == []
        assert len(got) <= after
        if name == "Segmenter.save":  # the first model stays when the second save fails
            from cxr_nb.seg.segmenter import Segmenter
            if got: assert _state_equal(Segmenter.load(out / "seg.pt", device="cpu"), _segmenter(0 if after < n_writes else 1))
        elif name != "save_run_results":  # metrics.json stamps the time it was written
            assert all(ref.get(k) == h for k, h in got.items()), f"a partial or foreign file after {after} writes"
    if name.startswith("write_") or name == "save_run_results": return  # writers of fresh folders: refuse a rerun
    run(films, out)  # the rerun on the same folder gives the undisturbed result
    assert tree(out) == ref


# ---------------------------------------------------------------- class 2: a read-only folder

def test_read_only_cache_images_blames_the_folder(films, tmp_path, capsys):
    _cache(films, tmp_path / "ref"); ref = tree(tmp_path / "ref")
    with rw_folder(tmp_path) as d:
        cache = d / "cache"
        first = sorted(films.glob("*.png"))[:5]
        _cache(first, cache)
        before = tree(cache)
        with read_only(d):
            with pytest.raises(OutputError) as e:
                cache_images(films, cache, size=32, workers=1, progress=False)
            assert e.value.errno in (errno.EROFS, errno.EACCES, errno.EPERM) and str(cache) in str(e.value)
            assert "skipped" not in capsys.readouterr().out
            assert tree(cache) == before
        df = _cache(films, cache)
        assert df.attrs["cache_stats"] == {"computed": 7, "reused": 5, "bad": 0} and tree(cache) == ref


@pytest.mark.parametrize("job", ["cache_shards", "expand_brightness_levels", "Segmenter.save", "cache_images_workers"])
def test_read_only_other_jobs(films, tmp_path, job):
    with rw_folder(tmp_path) as d:
        if job == "cache_shards":
            _shards(sorted(films.glob("*.png"))[:4], d / "s")
            call = lambda: _shards(films, d / "s")
        elif job == "expand_brightness_levels":
            df = _cache(films, tmp_path / "c")
            (d / "levels").mkdir()
            call = lambda: expand_brightness_levels(df.assign(path=df.cache_path), d / "levels", n=2)
        elif job == "cache_images_workers":
            call = lambda: cache_images(films, d / "w", size=32, workers=2, progress=False, verbose=False)
        else:
            _segmenter(0).save(d / "seg.pt")
            call = lambda: _segmenter(1).save(d / "seg.pt", overwrite=True)
        before = tree(d)
        with read_only(d):
            with pytest.raises(OSError) as e:
                call()
            assert e.value.errno in (errno.EROFS, errno.EACCES, errno.EPERM)
            if job != "Segmenter.save": assert isinstance(e.value, OutputError) and str(d) in str(e.value)
        assert tree(d) == before and leftovers(d) == []


# ---------------------------------------------------------------- class 3: two processes on one folder

def _child(job, result=None):
    "Fork a real child process (it inherits this one's imports: no second start-up of torch) running `job()`."
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 0
        try:
            out = job()
            if result is not None: Path(result).write_text(json.dumps(out))
        except BaseException:
            import traceback
            Path(str(result or "child") + ".err").write_text(traceback.format_exc()); code = 1
        os._exit(code)
    return pid


def _wait(pid, timeout=60):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done: return os.waitstatus_to_exitcode(status)
        time.sleep(0.02)
    os.kill(pid, signal.SIGKILL); os.waitpid(pid, 0)
    raise AssertionError("the child process did not finish")


def _two_at_once(jobs, tmp_path):
    "Run two jobs in two processes at once; their results."
    res = [tmp_path / f"r{i}.json" for i in range(2)]
    pids = [_child(j, r) for j, r in zip(jobs, res)]
    codes = [_wait(p) for p in pids]
    for c, r in zip(codes, res):
        assert c == 0, Path(str(r) + ".err").read_text()
    return [json.loads(r.read_text()) for r in res]


def _images_job(films, cache, names, rounds=3):
    def job():
        for _ in range(rounds):  # again and again: each round reads what the other process is writing
            df = _cache([films / n for n in names], cache)
        return {"stats": df.attrs["cache_stats"], "paths": df.cache_path.tolist()}
    return job


@pytest.mark.parametrize("overlap", ["same", "overlapping"])
def test_two_processes_cache_images(tmp_path, overlap):
    films = make_films(tmp_path / "films", 30)
    names = sorted(p.name for p in films.glob("*.png"))
    a, b = (names, names) if overlap == "same" else (names[:20], names[10:])
    res = _two_at_once([_images_job(films, tmp_path / "cache", a), _images_job(films, tmp_path / "cache", b)], tmp_path)
    for r, n in zip(res, (a, b)):
        assert r["stats"]["bad"] == 0 and len(r["paths"]) == len(n) and all(Path(p).is_file() for p in r["paths"])
        for p, src in zip(r["paths"], n):  # each entry is the one its source gives
            np.testing.assert_allclose(read_cached(p), prepare_cxr(films / src, 32)[0], atol=0.5 / 255 + 1e-6)
    _cache(films, tmp_path / "ref")
    assert tree(tmp_path / "cache") == tree(tmp_path / "ref") and leftovers(tmp_path / "cache") == []


def test_two_processes_cache_shards(tmp_path):
    films = make_films(tmp_path / "films", 16)
    def job():
        for _ in range(3): df = _shards(films, tmp_path / "cache")
        return {"stats": df.attrs["cache_stats"], "paths": df.cache_path.tolist()}
    res = _two_at_once([job, job], tmp_path)
    assert res[0]["paths"] == res[1]["paths"] and all(r["stats"]["bad"] == 0 for r in res)
    _shards(films, tmp_path / "ref")
    assert tree(tmp_path / "cache") == tree(tmp_path / "ref")


# ---------------------------------------------------------------- class 4: killed mid-write (SIGKILL)

_JOBS = {
    "cache_images": lambda films, out: _cache(films, out),
    "cache_shards": lambda films, out: _shards(films, out),
    "load_phantom": lambda films, out: __import__("cxr_nb.data.datasets").data.datasets.load_phantom("jsrt", 4, root=out, size=32),
    "Segmenter.save": lambda films, out: _segmenter(1).save(out / "seg.pt", overwrite=True),
}


@pytest.mark.parametrize("job", sorted(_JOBS))
def test_sigkill_mid_write_then_rerun(films, tmp_path, job):
    out, ref, ready = tmp_path / "out", tmp_path / "ref", tmp_path / "ready"
    if job == "Segmenter.save":
        for d in (out, ref): d.mkdir(); _segmenter(0).save(d / "seg.pt")
    before = tree(out) if out.exists() else {}
    after = 1 if job == "Segmenter.save" else 6

    def killed():  # in the child: the `after`-th file is written and fsynced, not yet renamed; wait for the kill
        real, calls = os.fsync, [0]
        def fsync(fd):
            calls[0] += 1
            real(fd)
            if calls[0] == after:
                ready.write_text("x"); time.sleep(60)
        os.fsync = fsync
        _JOBS[job](films, out)

    pid = _child(killed)
    t0 = time.monotonic()
    while not ready.exists():
        done, _ = os.waitpid(pid, os.WNOHANG)
        assert not done, "the job ended before its write"
        assert time.monotonic() - t0 < 60, "the job never reached its write"
        time.sleep(0.02)
    os.kill(pid, signal.SIGKILL); os.waitpid(pid, 0)
    after_kill = tree(out) if out.exists() else {}
    assert {k: after_kill.get(k) for k in before} == before  # what was there is intact
    if job == "cache_images": assert entries_complete(out) == 2  # the third entry's array is only a temporary file
    if job == "load_phantom": assert not out.exists()  # the set is renamed into place only when whole
    _JOBS[job](films, out)  # the rerun ...
    _JOBS[job](films, ref)  # ... gives exactly an undisturbed run's files
    assert tree(out) == tree(ref)


# ---------------------------------------------------------------- class 5: checks before a kernel starts

@pytest.mark.parametrize("args, names", [
    (["run", "yang2021", "-p", "data", "/nonexistent/folder"], "data='/nonexistent/folder': no such folder"),
    (["run", "fang2021", "-p", "seg_data", "/nonexistent/jsrt"], "seg_data='/nonexistent/jsrt': no such folder"),
    (["run", "fang2021", "-p", "pretrained", "/nonexistent/w.pth"], "pretrained='/nonexistent/w.pth': no such file"),
    (["run", "hao2021", "-p", "data", "__FILE__"], "is a file, not a data folder"),
    (["sweep", "yang2021", "-g", "data=phantom,/nonexistent/b", "-g", "seed=0..1", "--executor", "local"],
     "data='/nonexistent/b': no such folder"),
    (["sweep", "chang2022", "-g", "seed=0,1", "-p", "data", "/nonexistent/c", "--executor", "local"],
     "data='/nonexistent/c': no such folder"),
])
def test_cli_checks_paths_before_any_run(tmp_path, capsys, args, names):
    from cxr_nb.cli import main
    f = tmp_path / "notes.txt"; f.write_text("x")
    args = [str(f) if a == "__FILE__" else a for a in args]
    code = main(args + ["--out", str(tmp_path / "runs")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and names in err, err
    assert not (tmp_path / "runs").exists()


# ---------------------------------------------------------------- class 6: header and content that disagree

def _dcm12(path, arr, **attrs):
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid
    ds = Dataset(); ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID = generate_uid(entropy_srcs=["x"])
    ds.Modality, (ds.Rows, ds.Columns) = "CR", arr.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    for k, v in attrs.items(): setattr(ds, k, v)
    ds.PixelData = arr.astype(np.uint16).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


def test_dicom_pixels_above_bits_stored_warn_and_stay_monotone(tmp_path):
    a = np.tile(np.arange(0, 8192, 512, dtype=np.uint16), (4, 1))
    with pytest.warns(UserWarning, match=r"over12\.dcm: BitsStored is 12 but pixel values reach 7680"):
        img, _ = cio.read_cxr(_dcm12(tmp_path / "over12.dcm", a))
    assert (np.diff(img[0]) > 0).all()  # no sawtooth
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        img, _ = cio.read_cxr(_dcm12(tmp_path / "ok.dcm", a // 2))  # within 12 bits: silent
    with warnings.catch_warnings():  # windowed 12-bit phantoms (the package's own) read silently too
        warnings.simplefilter("error")
        from cxr_nb.phantom.layouts import write_pneumoconiosis_layout
        root = write_pneumoconiosis_layout(tmp_path / "pn", 2, size=32, fmt="dicom")
        for p in root.rglob("*.dcm"): cio.read_cxr(p)


def test_mask_of_another_aspect_is_refused_a_scaled_one_is_silent(tmp_path):
    from cxr_nb.data.dataloaders import label_map
    Image.fromarray(np.zeros((64, 64), np.uint8)).save(tmp_path / "img.png")
    Image.fromarray(np.full((32, 32), 255, np.uint8)).save(tmp_path / "half.png")     # SCR: half size, same shape
    Image.fromarray(np.full((32, 64), 255, np.uint8)).save(tmp_path / "wide.png")
    row = pd.Series({"path": str(tmp_path / "img.png"), "mask_lungs": str(tmp_path / "half.png")})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert label_map(row, {"lungs": ["mask_lungs"]}).all()
    with pytest.raises(ValueError, match=r"wide\.png is 32x64 but its image .*img\.png is 64x64"):
        label_map(row.replace({str(tmp_path / "half.png"): str(tmp_path / "wide.png")}), {"lungs": ["mask_lungs"]})


@pytest.mark.parametrize("fn", ["equalize_hist", "clahe", "resize_pad", "brightness_levels", "Segmenter"])
@pytest.mark.parametrize("bad, message", [
    (np.full((16, 16), 200, np.uint8), r"integer image \(uint8, values up to 200\)"),
    (np.where(np.eye(16) > 0, np.nan, 0.5).astype(np.float32), "16 non-finite pixels"),
    (np.full((16, 16), 200.0, np.float32), r"values in \[200, 200\], expected floats in \[0, 1\]"),
])
def test_unexpected_pixel_values_are_refused_by_name(fn, bad, message):
    import cxr_nb.data.preprocess as P
    call = {"equalize_hist": lambda: P.equalize_hist(bad), "clahe": lambda: P.clahe(bad),
            "resize_pad": lambda: P.resize_pad(bad, 8), "brightness_levels": lambda: P.brightness_levels(bad, 2),
            "Segmenter": lambda: _segmenter(0)._prepare(bad)}[fn]
    with pytest.raises(ValueError, match=f"{fn}: .*{message}"):
        call()


def test_write_image_refuses_floats(tmp_path):
    with pytest.raises(ValueError, match="uint8 or uint16"):
        cio.write_image(tmp_path / "x.png", np.full((4, 4), 0.5))
    assert not (tmp_path / "x.png").exists()


# ---------------------------------------------------------------- class 7: internal errors left from the last round

def test_nih_boxes_with_non_numeric_coordinates(tmp_path):
    from cxr_nb.data.datasets import load_nih
    from cxr_nb.phantom.layouts import write_nih_layout
    root = write_nih_layout(tmp_path / "nih", 6, size=32, finding_frac=1.0, bbox_frac=1.0)
    bb = root / "BBox_List_2017.csv"
    lines = bb.read_text().splitlines()
    parts = lines[1].split(","); parts[2] = "twelve"; lines[1] = ",".join(parts)
    bb.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"BBox_List_2017.csv line 2: box coordinates .*'twelve'.* are not all numbers"):
        load_nih(root)


def test_kermany_patient_id_of_a_number():
    from cxr_nb.data.datasets import kermany_patient_id
    with pytest.raises(TypeError, match=r"kermany_patient_id: name must be a file name \(str or Path\), got 5 \(int\)"):
        kermany_patient_id(5)


@pytest.mark.parametrize("content, message", [
    ("", "is empty"), ("file,seed\nimages/a.png,1\n", r"no column\(s\) \['size'\]"),
    ("file,seed,size\n", "lists no images"), ("file,seed,size,findings\na.png,1,32,[oops\n", "line 2 is malformed"),
    ("file,seed,size\na.png,one,32\n", "line 2 is malformed"),
])
def test_phantom_manifest_malformed(tmp_path, content, message):
    from cxr_nb.phantom.layouts import phantom_manifest
    (tmp_path / "phantom_manifest.csv").write_text(content)
    with pytest.raises(ValueError, match=message):
        phantom_manifest(tmp_path)


@pytest.mark.parametrize("layout", ["jsrt", "pneumoconiosis", "rsna"])
def test_labels_csv_listing_an_image_twice_with_two_labels(tmp_path, layout):
    import cxr_nb.data.datasets as D
    import cxr_nb.phantom.layouts as L
    root = getattr(L, f"write_{layout}_layout")(tmp_path / layout, 4, size=32)
    csv = {"jsrt": "jsrt.csv", "pneumoconiosis": "labels.csv", "rsna": "stage_2_detailed_class_info.csv"}[layout]
    t = pd.read_csv(root / csv, dtype=str, keep_default_na=False)
    dup = t.iloc[[0]].copy()
    col = {"jsrt": "nodule", "pneumoconiosis": "ilo_category", "rsna": "class"}[layout]
    first = t[col].iloc[0]
    if layout == "jsrt": dup[col] = "1" if first == "0" else "0"
    elif layout == "pneumoconiosis": dup[col] = str((int(first) + 1) % 4)
    else: dup[col] = "Normal" if first != "Normal" else "Lung Opacity"
    pd.concat([t, dup]).to_csv(root / csv, index=False)
    with pytest.raises(ValueError, match=rf"{csv} lists .* 2 times with different labels"):
        D.LOADERS[layout](root)
    pd.concat([t, t.iloc[[0]]]).to_csv(root / csv, index=False)  # an exact repeat is harmless
    assert len(D.LOADERS[layout](root)) == 4


def test_segmenter_load_missing_path(tmp_path):
    from cxr_nb.seg.segmenter import Segmenter
    with pytest.raises(FileNotFoundError, match=r"Segmenter.load: .*nope\.pt: no such file"):
        Segmenter.load(tmp_path / "nope.pt")
    with pytest.raises(FileNotFoundError, match="is a folder"):
        Segmenter.load(tmp_path)


# ---------------------------------------------------------------- the package writes only through atomic_write

_WRITE_CALLS = {"save", "savez", "savez_compressed", "imwrite", "to_csv", "to_parquet", "to_json", "dump", "save_as",
                "safe_dump", "savefig", "write_text", "write_bytes", "tofile", "dcmwrite", "copyfile", "copy", "copy2", "move", "write"}
_ALLOWED = {  # (module, call) that write through atomic_write by construction, each with why
    ("kit.py", "seg.save"): "Segmenter.save writes through atomic_write",
    ("bundle.py", "segmenter.save"): "Segmenter.save writes through atomic_write",
    ("widgets.py", "fig.savefig"): "into an in-memory BytesIO",
    ("datasets.py", "os.replace"): "load_phantom renames a whole, finished set folder onto its root",
}


def _direct_writes(path: Path) -> list:
    "Calls in `path` that write a file by name, not into a file object from `with atomic_write(...) as f`."
    tree_ = ast.parse(path.read_text())
    bound = set()  # names bound by `with atomic_write(...) as NAME` or `NAME = io.BytesIO()`
    for node in ast.walk(tree_):
        if isinstance(node, ast.With):
            for item in node.items:
                c = item.context_expr
                if isinstance(c, ast.Call) and getattr(c.func, "id", getattr(c.func, "attr", "")) == "atomic_write" \
                        and isinstance(item.optional_vars, ast.Name):
                    bound.add(item.optional_vars.id)
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call) and \
                getattr(node.value.func, "attr", getattr(node.value.func, "id", "")) == "BytesIO":
            bound.update(t.id for t in node.targets if isinstance(t, ast.Name))
    bad = []
    for fn in (n for n in ast.walk(tree_) if isinstance(n, ast.FunctionDef)):
        if fn.name == "atomic_write": continue
        for node in ast.walk(fn):
            if not isinstance(node, ast.Call): continue
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
            text = ast.unparse(f)
            if name == "open":
                mode = node.args[1] if len(node.args) > 1 else next((k.value for k in node.keywords if k.arg == "mode"), None)
                if isinstance(mode, ast.Constant) and any(c in str(mode.value) for c in "wax+"):
                    bad.append(f"{path.name}:{node.lineno}: open(..., {mode.value!r})")
                continue
            if name in ("replace", "rename") and text.startswith("os.") and (path.name, text) not in _ALLOWED:
                bad.append(f"{path.name}:{node.lineno}: {text}"); continue
            if name == "open_memmap":
                if not (node.args and isinstance(node.args[0], ast.Name) and node.args[0].id in bound | {"tmp"}):
                    bad.append(f"{path.name}:{node.lineno}: {text} onto a final path")
                continue
            if name not in _WRITE_CALLS or (path.name, text) in _ALLOWED: continue
            if name in ("to_csv", "to_json") and not node.args and not any(k.arg == "path_or_buf" for k in node.keywords):
                continue  # returns the text
            if name == "write":
                receiver_ok = isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id in bound
                if not isinstance(f, ast.Attribute) or not isinstance(f.value, ast.Name): continue  # sys.stderr.write ...
                if not receiver_ok and not any(isinstance(a, ast.Name) and a.id in bound for a in node.args):
                    bad.append(f"{path.name}:{node.lineno}: {text}")
                continue
            targets = [a for a in node.args] + [k.value for k in node.keywords if k.arg in ("f", "file", "fp", "path_or_buf", "filename", "fname", "fp_or_filename")]
            if name in ("write_text", "write_bytes", "imwrite", "tofile", "copyfile", "copy", "copy2", "move"):
                if name in ("copy", "move") and not text.startswith("shutil."): continue
                bad.append(f"{path.name}:{node.lineno}: {text}"); continue
            if not any(isinstance(t, ast.Name) and t.id in bound for t in targets):
                bad.append(f"{path.name}:{node.lineno}: {text}({', '.join(ast.unparse(a) for a in node.args)})")
    return bad


def test_every_writer_of_the_package_goes_through_atomic_write():
    bad = [b for p in sorted((REPO / "cxr_nb").rglob("*.py")) if p.name != "_modidx.py" for b in _direct_writes(p)]
    assert bad == [], "direct writes to a final path (use cxr_nb.io.atomic_write):\n  " + "\n  ".join(bad)


def test_the_scan_finds_a_direct_write(tmp_path):
    (tmp_path / "mod.py").write_text(
        "import json, numpy as np, torch\nfrom pathlib import Path\n"
        "def a(p, x):\n    Path(p).write_text('x')\n"
        "def b(p, x):\n    np.save(p, x)\n"
        "def c(p, x):\n    with open(p, 'w') as f: json.dump(x, f)\n"
        "def d(p, x):\n    torch.save(x, p)\n"
        "def ok(p, x):\n    with atomic_write(p) as f: torch.save(x, f)\n")
    found = _direct_writes(tmp_path / "mod.py")
    assert [f.split(": ", 1)[0] for f in found] == ["mod.py:4", "mod.py:6", "mod.py:8", "mod.py:10"], found
