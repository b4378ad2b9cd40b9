#!/usr/bin/env python
"""Images/s of one epoch's loading: on the fly (read_cxr + resize_pad) versus from the cache (`cache_images`).

Data: real files when ../shared/data (or $CXR_DATA) has them: JSRT 512 px PNGs, Kermany JPEGs, and
DICOMs written into a temporary folder from JSRT images, upscaled to --dicom-size and stored as 12-bit
uncompressed, RLE lossless and JPEG 2000 lossless files (what a hospital's PACS export looks like).
Generated images in the same formats otherwise (or with --synthetic).

Both loops run in one process with the same per-image work (load -> float32 array of the training
size -> torch tensor), so the ratio is the cost of decoding+resizing versus np.load.
The last line printed is one JSON object: raw_img_s, cached_img_s, speedup, and the per-format figures.

usage: flock /tmp/cxr_heavy.lock python bench/preprocess.py [--n 48] [--size 256] [--epochs 2]
"""
import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image
import pydicom
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import (ExplicitVRLittleEndian, RLELossless, JPEG2000Lossless, generate_uid,
                         DigitalXRayImageStorageForPresentation)

from cxr_nb.io import find_dataset
from cxr_nb.io import PILCXR
from cxr_nb.data.cache import cache_images, prepare_cxr, read_cached, PILCachedCXR


def write_dicom(path: Path, img: np.ndarray, size: int, syntax) -> Path:
    "Write `img` (float [0, 1]) as a 12-bit MONOCHROME2 DX DICOM of `size` px in transfer syntax `syntax`."
    arr = cv2.resize(img.astype(np.float32), (size, size), interpolation=cv2.INTER_LINEAR)
    arr = np.clip(np.rint(arr * 4095), 0, 4095).astype(np.uint16)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = DigitalXRayImageStorageForPresentation
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.PatientID, ds.Modality, ds.ViewPosition = path.stem, "DX", "PA"
    ds.Rows, ds.Columns = arr.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.WindowCenter, ds.WindowWidth = 2048, 4096
    ds.PixelData = arr.tobytes()
    if syntax != ExplicitVRLittleEndian:
        ds.compress(syntax, arr)
    ds.save_as(str(path), enforce_file_format=True)
    return path


def synthetic(seed: int, h: int, w: int) -> np.ndarray:
    "A smooth chest-like float image in [0, 1] with noise (no real data needed)."
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    img = 0.55 + 0.25 * np.exp(-((xx - 0.5) / 0.12) ** 2)
    for cx in (0.3, 0.7):
        img -= 0.3 * np.exp(-(((xx - cx) / 0.13) ** 2 + ((yy - 0.5) / 0.25) ** 2))
    img += 0.03 * np.sin(yy * 60 + seed) + 0.02 * rng.standard_normal((h, w))
    return np.clip(img, 0, 1).astype(np.float32)


def gather(tmp: Path, n: int, dicom_size: int, force_synthetic: bool) -> tuple[dict, str]:
    "{format name: [paths]} and a word saying where the data came from."
    groups, src = {}, "synthetic"
    jsrt = kermany = None
    if not force_synthetic:
        try: jsrt = sorted((find_dataset("jsrt") / "images").glob("*.png"))[:n]
        except FileNotFoundError: pass
        try: kermany = sorted((find_dataset("kermany") / "chest_xray").rglob("*.jpeg"))[:n]
        except FileNotFoundError: pass
    gen = tmp / "generated"; gen.mkdir()
    if jsrt:
        groups["png 512 (JSRT)"], src = [str(p) for p in jsrt], "real"
        bases = [np.asarray(Image.open(p).convert("L"), np.float32) / 255 for p in jsrt]
    else:
        for k in range(n):
            Image.fromarray((synthetic(k, 512, 512) * 255).astype(np.uint8)).save(gen / f"syn{k:03d}.png")
        groups["png 512 (generated)"] = sorted(str(p) for p in gen.glob("*.png"))
        bases = [synthetic(k, 512, 512) for k in range(n)]
    if kermany:
        groups["jpeg (Kermany)"] = [str(p) for p in kermany]
    else:
        for k in range(n):
            Image.fromarray((synthetic(100 + k, 224, 224) * 255).astype(np.uint8)).convert("RGB").save(gen / f"syn{k:03d}.jpeg", quality=90)
        groups["jpeg 224 (generated)"] = sorted(str(p) for p in gen.glob("*.jpeg"))
    dcm = tmp / "dicom"; dcm.mkdir()
    syntaxes = [("uncompressed", ExplicitVRLittleEndian), ("RLE", RLELossless), ("JPEG 2000", JPEG2000Lossless)]
    n_dcm = max(1, n // 2)   # DICOMs are the slow ones; fewer keep the bench short
    for name, uid in syntaxes:
        paths = [str(write_dicom(dcm / f"{name.replace(' ', '')}_{k:03d}.dcm", bases[k % len(bases)], dicom_size, uid))
                 for k in range(n_dcm)]
        groups[f"dicom {dicom_size} 12-bit {name}"] = paths
    return groups, src


def epoch(paths, load) -> float:
    "Seconds to load every path once into a float32 torch tensor."
    t0 = time.perf_counter()
    for p in paths:
        x = torch.as_tensor(np.asarray(load(p)))
        assert x.ndim == 2
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=48, help="images per PNG/JPEG group (half as many per DICOM syntax)")
    ap.add_argument("--size", type=int, default=256, help="training size (resize_pad target)")
    ap.add_argument("--dicom-size", type=int, default=2048, help="side of the generated DICOMs")
    ap.add_argument("--epochs", type=int, default=2, help="timed epochs per loader (best one reported)")
    ap.add_argument("--workers", type=int, default=None, help="cache_images worker processes")
    ap.add_argument("--synthetic", action="store_true", help="ignore ../shared/data")
    args = ap.parse_args()
    cv2.setNumThreads(1)
    warnings.filterwarnings("ignore", message="The given NumPy array is not writable")  # PIL arrays are read-only; we never write
    torch.set_num_threads(1)
    tmp = Path(tempfile.mkdtemp(prefix="cxr_bench_pp_"))
    try:
        t0 = time.perf_counter()
        groups, src = gather(tmp, args.n, args.dicom_size, args.synthetic)
        print(f"data: {src}; {sum(map(len, groups.values()))} files written/selected in {time.perf_counter() - t0:.1f} s")
        allp = [p for ps in groups.values() for p in ps]
        t0 = time.perf_counter()
        df = cache_images(allp, tmp / "cache", size=args.size, workers=args.workers, progress=False)
        build_s = time.perf_counter() - t0
        assert df.attrs["cache_stats"]["bad"] == 0, df.attrs["cache_report"]
        t0 = time.perf_counter()
        df2 = cache_images(allp, tmp / "cache", size=args.size, workers=args.workers, progress=False, verbose=False)
        reuse_s = time.perf_counter() - t0
        assert df2.attrs["cache_stats"]["reused"] == len(allp)
        cpath = dict(zip(df["path"], df["cache_path"]))
        raw_load = lambda p: prepare_cxr(p, args.size)[0]
        rows, tot_raw, tot_cached = [], 0.0, 0.0
        for name, paths in groups.items():
            cps = [cpath[p] for p in paths]
            r = min(epoch(paths, raw_load) for _ in range(args.epochs))
            c = min(epoch(cps, read_cached) for _ in range(args.epochs))
            # sanity: the cached array is the on-the-fly one (uint8 storage)
            assert np.abs(read_cached(cps[0]) - raw_load(paths[0])).max() <= 1 / 255
            rows.append((name, len(paths), len(paths) / r, len(paths) / c, r / c))
            tot_raw += r; tot_cached += c
        # the same through fastai's image types: PILCXR (read_cxr + PIL resize) vs PILCachedCXR (np.load)
        fa_raw = lambda p: PILCXR.create(p).resize((args.size, args.size), Image.BILINEAR)
        fa_r = min(epoch(allp, fa_raw) for _ in range(args.epochs))
        fa_c = min(epoch([cpath[p] for p in allp], PILCachedCXR.create) for _ in range(args.epochs))
        n = len(allp)
        raw_ips, cached_ips = n / tot_raw, n / tot_cached
        print(f"\none epoch = every image once, loaded to a float32 {args.size}x{args.size} tensor, 1 process; best of {args.epochs}")
        print(f"{'format':34s} {'n':>4s} {'raw img/s':>10s} {'cached img/s':>13s} {'speedup':>8s}")
        for name, k, r, c, s in rows:
            print(f"{name:34s} {k:4d} {r:10.1f} {c:13.1f} {s:7.1f}x")
        print(f"{'all (one mixed epoch)':34s} {n:4d} {raw_ips:10.1f} {cached_ips:13.1f} {cached_ips / raw_ips:7.1f}x")
        print(f"{'all, fastai PILCXR vs PILCachedCXR':34s} {n:4d} {n / fa_r:10.1f} {n / fa_c:13.1f} {fa_r / fa_c:7.1f}x")
        print(f"\ncache build: {n} images in {build_s:.1f} s ({n / build_s:.1f} img/s, workers={args.workers or min(2, os.cpu_count() or 1)}); "
              f"second call reused all in {reuse_s:.2f} s")
        speedup = cached_ips / raw_ips
        print(f"speedup {speedup:.1f}x ({'meets' if speedup >= 5 else 'MISSES'} the 5x target)")
        print(json.dumps({"raw_img_s": round(raw_ips, 2), "cached_img_s": round(cached_ips, 2), "speedup": round(speedup, 2),
                          "n_images": n, "size": args.size, "dicom_size": args.dicom_size, "data": src,
                          "fastai_raw_img_s": round(n / fa_r, 2), "fastai_cached_img_s": round(n / fa_c, 2),
                          "fastai_speedup": round(fa_r / fa_c, 2), "cache_build_s": round(build_s, 2), "cache_reuse_s": round(reuse_s, 3),
                          "per_format": {name: {"n": k, "raw_img_s": round(r, 2), "cached_img_s": round(c, 2), "speedup": round(s, 2)}
                                         for name, k, r, c, s in rows}}))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
