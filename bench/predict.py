#!/usr/bin/env python
"""Films/s of `Bundle.predict` (read -> preprocessing contract -> batched forward) against a bare `model(x)` loop.

A 224 px classifier (torchvision resnet18 built by `cxr_learner`, one grey channel, random weights: speed does
not depend on training) is saved as a bundle from a training frame of 224 px PNGs, then used two ways in this
process, on the same threads and batch size:
- peer: `model(x)` over tensors already loaded and normalised in memory (no reading, no preprocessing);
- ours: `load_bundle(...).predict(folder)`: collect the files, `read_cxr`, `prepare_film` (window/equalise/
  resize_pad/storage rounding), channels and normalisation, batched forward, calibrated + raw probabilities and
  decisions in a DataFrame.
Two bundles: whole films (films are PNGs already at 224 px: the target is ours >= 0.7x the bare loop), and lung
regions (the bundle's U-Net at --seg-size segments every film first; its forward is extra work the bare loop of the
classifier does not do, so that ratio is reported, not targeted). Films: JSRT PNGs resized to 224 px when
../shared/data/jsrt (or $CXR_DATA) has them, generated chest-like images otherwise (or with --synthetic).

    flock /tmp/cxr_heavy.lock python bench/predict.py [--n 64] [--bs 16] [--repeats 3] [--threads 1]

The last line printed is one JSON object: films_s and bare_films_s for each bundle, their ratios, and uptime.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image

warnings.filterwarnings("ignore")
from cxr_nb.deploy.bundle import load_bundle, save_bundle
from cxr_nb.classify.learner import cxr_learner
from cxr_nb.data.dataloaders import classification_dls
from cxr_nb.io import find_dataset
from cxr_nb.seg.lung_region import cache_lung_regions
from cxr_nb.data.cache import PILCachedCXR, cache_images, use_cached
from cxr_nb.seg.segmenter import Segmenter
from cxr_nb.seg.nets import seg_model


def synthetic(seed: int, size: int) -> np.ndarray:
    "A smooth chest-like float image in [0, 1] (bright mediastinum, two dark lungs, noise)."
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    img = 0.55 + 0.25 * np.exp(-((xx - 0.5) / 0.12) ** 2)
    for cx in (0.3, 0.7):
        img -= 0.3 * np.exp(-(((xx - cx) / 0.13) ** 2 + ((yy - 0.5) / 0.25) ** 2))
    img += 0.02 * rng.standard_normal((size, size))
    return np.clip(img, 0, 1)


def write_films(folder: Path, n: int, size: int, force_synthetic: bool) -> str:
    "n 8-bit PNG films of size x size px in `folder`; returns where they came from."
    folder.mkdir(parents=True)
    src = []
    if not force_synthetic:
        try: src = sorted((find_dataset("jsrt") / "images").glob("*.png"))[:n]
        except FileNotFoundError: pass
    for k in range(n):
        if k < len(src): im = Image.open(src[k]).convert("L").resize((size, size), Image.BILINEAR)
        else: im = Image.fromarray(np.rint(synthetic(k, size) * 255).astype(np.uint8))
        im.save(folder / f"film{k:03d}.png")
    return "real (JSRT, resized)" if len(src) == n else "synthetic"


def frame_of(folder: Path) -> pd.DataFrame:
    files = sorted(str(p) for p in folder.glob("*.png"))
    return pd.DataFrame({"path": files, "patient_id": [f"p{k}" for k in range(len(files))],
                         "label": [k % 2 for k in range(len(files))],
                         "split": ["valid" if k % 4 == 0 else "train" for k in range(len(files))]})


def lungs_everywhere(size: int) -> Segmenter:
    "An untrained U-Net whose last layer always votes 'lungs' (the whole film): the same forward cost as a trained one."
    model = seg_model("unet", 2, size=size, pretrained=False)
    last = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d) and m.out_channels == 2][-1]
    with torch.no_grad():
        last.weight.zero_(); last.bias.copy_(torch.tensor([-10., 10.]))
    return Segmenter(model.eval(), ["lungs"], size, "unet")


def bundle_for(frame: pd.DataFrame, out: Path, bs: int, **lung) -> Path:
    dls = classification_dls(frame, label_col="label", size=224, bs=bs, aug=False, img_cls=PILCachedCXR, num_workers=0,
                             vocab=[0, 1])
    learn = cxr_learner(dls, "resnet18", n_in=1, pretrained=False)
    return save_bundle(out, learn, "resnet18", frame, label_col="label", **lung)


def best_rate(fn, n: int, repeats: int) -> float:
    "Films per second of the fastest of `repeats` calls of `fn` (each handles n films)."
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter(); fn(); times.append(time.perf_counter() - t0)
    return n / min(times)


def measure(folder: Path, bundle: Path, films: Path, n: int, bs: int, repeats: int) -> dict:
    b = load_bundle(bundle, device="cpu", verbose=False)
    pred = b.predict(films, bs=bs, progress=False)
    assert len(pred) == n and not pred.attrs["skipped"], pred.attrs["skipped"]
    # the peer's tensors: the same films, already prepared and normalised, in memory
    x = torch.randn(n, 1, 224, 224)
    model = b.model.eval()
    def bare():
        with torch.inference_mode():
            for i in range(0, n, bs): model(x[i:i + bs])
    def ours(): b.predict(films, bs=bs, progress=False)
    bare(); ours()  # warm-up
    bare_s, ours_s = best_rate(bare, n, repeats), best_rate(ours, n, repeats)
    return dict(films_s=round(ours_s, 2), bare_films_s=round(bare_s, 2), ratio=round(ours_s / bare_s, 3))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=64, help="films")
    ap.add_argument("--bs", type=int, default=16, help="batch size of both loops")
    ap.add_argument("--repeats", type=int, default=3, help="timed passes of each loop (best reported)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (both loops)")
    ap.add_argument("--seg-size", type=int, default=128, help="the lung U-Net's input size")
    ap.add_argument("--synthetic", action="store_true", help="ignore ../shared/data")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    import cv2; cv2.setNumThreads(1)
    uptime = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    load0 = os.getloadavg()[0]
    tmp = Path(tempfile.mkdtemp(prefix="cxr_bench_predict_"))
    try:
        films = tmp / "films"
        src = write_films(films, args.n, 224, args.synthetic)
        frame = frame_of(films)
        whole = use_cached(cache_images(frame, tmp / "cache", size=224, progress=False, workers=1, verbose=False))
        seg = lungs_everywhere(args.seg_size)
        lung = use_cached(cache_lung_regions(seg, frame, tmp / "lcache", mode="zero", margin=0.02, size=224, progress=False, verbose=False))
        out = {"script": "bench/predict.py", "n": args.n, "bs": args.bs, "threads": args.threads, "data": src,
               "classifier": "resnet18, 224 px, 1 channel", "seg_size": args.seg_size, "uptime_start": uptime,
               "load_avg_start": load0}
        out["whole"] = measure(films, bundle_for(whole, tmp / "b_whole", args.bs), films, args.n, args.bs, args.repeats)
        out["lung_region"] = measure(films, bundle_for(lung, tmp / "b_lung", args.bs, segmenter=seg, lung_region="zero",
                                                       lung_margin=0.02), films, args.n, args.bs, args.repeats)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    out["load_avg_end"] = os.getloadavg()[0]
    print(f"uptime: {uptime}")
    print(f"{args.n} PNG films at 224 px ({src}), batch {args.bs}, {args.threads} torch thread(s), best of {args.repeats}")
    print("| | predict films/s | bare model(x) films/s | ratio |\n|---|---|---|---|")
    for k, name in (("whole", "whole film"), ("lung_region", f"lung region (U-Net {args.seg_size} px first)")):
        r = out[k]
        print(f"| {name} | {r['films_s']:.1f} | {r['bare_films_s']:.1f} | {r['ratio']:.2f} |")
    ok = out["whole"]["ratio"] >= 0.7
    print(f"whole-film predict at {out['whole']['ratio']:.2f}x the bare loop: {'meets' if ok else 'MISSES'} the 0.7x target; "
          f"load average {load0:.1f} -> {out['load_avg_end']:.1f}")
    print(json.dumps(out))


if __name__ == "__main__":
    sys.exit(main())
