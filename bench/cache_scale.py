#!/usr/bin/env python
"""The sharded cache (`cache_shards`) at ChestX-ray14 scale: images/s to build, images/s to read in a training epoch, bytes per image.

Data: --n phantom PNG files (cxr_nb.phantom.render) of --src-size px. Rendering a phantom takes ~20 ms, so --distinct
phantoms are rendered and the --n files are hard links to them under their own names: every file is opened and
decoded like a distinct one (the cache key is per path), but they share pages in the OS cache, so the build
measures decoding + resizing + storing, not a cold disk. The build runs with --workers processes; a second call
must reuse every shard (the resume path). The epoch is one pass over the training DataLoader of
`classification_dls` (fastai, `PILCachedCXR`, no augmentation, one process) over all the cached images, plus the
bare memory-map read of the same images in a shuffled order. The per-image cache (`cache_images`) is measured on
the first --compare files for comparison (build, epoch and bytes on disk per image). The extrapolation to
112,120 images (ChestX-ray14) is the measured rates applied to that count.

The last line printed is one JSON object.

usage: flock /tmp/cxr_heavy.lock python bench/cache_scale.py [--n 20000] [--size 224] [--workers 2]
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

from cxr_nb.data.dataloaders import classification_dls
from cxr_nb.phantom.render import make_phantom
from cxr_nb.data.cache import PILCachedCXR, cache_images, cache_shards, read_cached, use_cached, prepare_cxr

NIH = 112_120


def disk_bytes(files) -> tuple:
    "(apparent bytes, bytes allocated on disk) of `files`."
    st = [os.stat(f) for f in files]
    return sum(s.st_size for s in st), sum(s.st_blocks * 512 for s in st)


def epoch_img_s(frame, size, bs) -> float:
    "Images/s of one pass over the training DataLoader (all rows in training but a few for validation)."
    df = use_cached(frame).assign(label=lambda d: np.arange(len(d)) % 2,
                                  split=lambda d: np.where(np.arange(len(d)) < len(d) - 64, "train", "valid"),
                                  patient_id=lambda d: [f"p{i}" for i in range(len(d))])
    dls = classification_dls(df, size=size, bs=bs, aug=False, img_cls=PILCachedCXR, num_workers=0, device="cpu")
    n, t0 = 0, time.perf_counter()
    for xb, yb in dls.train:
        n += len(xb)
    return n / (time.perf_counter() - t0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20_000, help="phantom files to cache")
    ap.add_argument("--distinct", type=int, default=400, help="distinct phantoms rendered (the files link to them)")
    ap.add_argument("--src-size", type=int, default=512, help="side of the phantom PNGs")
    ap.add_argument("--size", type=int, default=224, help="training size (resize_pad target)")
    ap.add_argument("--shard-size", type=int, default=1024, help="images per shard")
    ap.add_argument("--workers", type=int, default=2, help="build processes")
    ap.add_argument("--bs", type=int, default=64, help="batch size of the epoch")
    ap.add_argument("--compare", type=int, default=2000, help="files cached one per image for comparison (0: none)")
    ap.add_argument("--tmp", default=None, help="folder for the data and caches (default: a new temporary folder)")
    args = ap.parse_args()
    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
    tmp = Path(tempfile.mkdtemp(prefix="cxr_bench_scale_", dir=args.tmp))
    load0 = os.getloadavg()[0]
    try:
        src = tmp / "films"
        src.mkdir()
        t0 = time.perf_counter()
        bases = []
        for k in range(args.distinct):
            img = make_phantom(seed=k, size=args.src_size)["image"]
            f = src / f"base_{k:04d}.png"
            Image.fromarray(np.round(img * 255).astype(np.uint8)).save(f)
            bases.append(f)
        files = []
        for i in range(args.n):
            f = src / f"img_{i:06d}.png"
            os.link(bases[i % len(bases)], f)
            files.append(str(f))
        print(f"data: {args.n} phantom files ({args.distinct} distinct, {args.src_size} px PNG) in "
              f"{time.perf_counter() - t0:.0f} s")

        t0 = time.perf_counter()
        df = cache_shards(files, tmp / "shards", size=args.size, shard_size=args.shard_size, workers=args.workers,
                          progress=False)
        build_s = time.perf_counter() - t0
        assert df.attrs["cache_stats"]["bad"] == 0, df.attrs["cache_report"][:3]
        t0 = time.perf_counter()
        again = cache_shards(files, tmp / "shards", size=args.size, shard_size=args.shard_size, workers=args.workers,
                             progress=False, verbose=False)
        resume_s = time.perf_counter() - t0
        assert again.attrs["cache_stats"]["shards_reused"] == again.attrs["cache_stats"]["shards"]
        i = args.n // 2
        assert np.abs(read_cached(df.cache_path[i]) - prepare_cxr(files[i], args.size)[0]).max() <= 0.5 / 255 + 1e-6
        store = [p for p in (tmp / "shards").iterdir() if p.is_file()]
        apparent, on_disk = disk_bytes(store)
        n_shards = len(list((tmp / "shards").glob("shard-*.npy")))

        t0 = time.perf_counter()
        for ref in np.random.default_rng(0).permutation(df.cache_path.to_numpy()):
            x = torch.as_tensor(read_cached(ref))
        mmap_img_s = args.n / (time.perf_counter() - t0)
        epoch_s_img = epoch_img_s(df, args.size, args.bs)

        cmp = {}
        if args.compare:
            sub = files[:args.compare]
            t0 = time.perf_counter()
            one = cache_images(sub, tmp / "per_image", size=args.size, workers=args.workers, progress=False, verbose=False)
            b = time.perf_counter() - t0
            ap_, od = disk_bytes([p for p in (tmp / "per_image").iterdir() if p.is_file()])
            shard_sub = cache_shards(sub, tmp / "shards_sub", size=args.size, shard_size=args.shard_size,
                                     workers=args.workers, progress=False, verbose=False)
            cmp = dict(n=len(sub), build_img_s=round(len(sub) / b, 1), epoch_img_s=round(epoch_img_s(one, args.size, args.bs), 1),
                       shard_epoch_img_s=round(epoch_img_s(shard_sub, args.size, args.bs), 1),
                       files=2 * len(sub), bytes_per_image_on_disk=round(od / len(sub)))

        build_ips = args.n / build_s
        per_img, per_img_disk = apparent / args.n, on_disk / args.n
        print(f"\nsharded store: {args.n} images of {args.size}x{args.size} uint8 in {n_shards} shards of {args.shard_size}")
        print(f"  build    {build_ips:8.1f} img/s  ({build_s:.0f} s, {args.workers} worker processes, load average "
              f"{load0:.1f} at the start)")
        print(f"  resume   {resume_s:8.2f} s      (every shard reused)")
        print(f"  epoch    {epoch_s_img:8.1f} img/s  (fastai DataLoader, PILCachedCXR, bs {args.bs}, one process)")
        print(f"  mmap     {mmap_img_s:8.1f} img/s  (shuffled read_cached, one process)")
        print(f"  bytes    {per_img:8.0f} per image ({per_img_disk:.0f} on disk, {2 * n_shards + 1} files)")
        if cmp:
            print(f"per-image cache_images on the first {cmp['n']}: build {cmp['build_img_s']} img/s, epoch "
                  f"{cmp['epoch_img_s']} img/s (shards on the same images: {cmp['shard_epoch_img_s']}), "
                  f"{cmp['bytes_per_image_on_disk']} bytes per image on disk in {cmp['files']} files")
        ext = dict(images=NIH, build_min=round(NIH / build_ips / 60, 1), epoch_read_min=round(NIH / epoch_s_img / 60, 1),
                   gb=round(NIH * per_img_disk / 1e9, 2), shards=-(-NIH // args.shard_size))
        print(f"ChestX-ray14 ({NIH} images): build {ext['build_min']} min with {args.workers} processes, "
              f"reading one epoch {ext['epoch_read_min']} min in one loader process, {ext['gb']} GB in {ext['shards']} shards")
        print(json.dumps(dict(n_images=args.n, distinct=args.distinct, src_size=args.src_size, size=args.size,
                              shard_size=args.shard_size, workers=args.workers, build_img_s=round(build_ips, 1),
                              resume_s=round(resume_s, 2), epoch_img_s=round(epoch_s_img, 1), mmap_img_s=round(mmap_img_s, 1),
                              bytes_per_image=round(per_img), bytes_per_image_on_disk=round(per_img_disk),
                              load_average_start=round(load0, 2), load_average_end=round(os.getloadavg()[0], 2),
                              per_image_cache=cmp, extrapolated_chestxray14=ext)))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
