#!/usr/bin/env python
"""Training throughput: our fastai pipeline against the plain PyTorch loop of ../shared/bench/peer_cls_torchvision.py.

Both train torchvision `resnet18(weights=None, num_classes=2)` from scratch on Kermany `chest_xray/train`
(90 % for training: the peer holds out 10 % of the images, we 10 % of the patients), 224 px,
batch 32, Adam lr 1e-3, cross-entropy, for the same wall-clock budget on the same threads, one after the
other in one run, each with its own DataLoader defaults (peer: 0 workers; ours: the library default, 1 on 2 cores).
The peer runs as a subprocess (unchanged); ours runs through the library:
`cxr_nb.data.datasets.load_kermany` + `classification_dls` (read_cxr, resize, the library's augmentations on the
batch) + `cxr_nb.classify.learner.model_learner`. Training images/s counts only training (ours skips the per-epoch
validation, the peer has none), data loading included for both.

    flock /tmp/cxr_heavy.lock python bench/train_loop.py --minutes 3

The last line printed is one JSON object: img_s (ours), peer_img_s, ratio (ours / peer), and details.
"""
import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torchvision

REPO = Path(__file__).resolve().parent.parent
PEER = REPO.parent / "shared" / "bench" / "peer_cls_torchvision.py"


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=3.0, help="training budget of each pipeline")
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--workers", type=int, default=None, help="our DataLoader workers (default: the library's, 1 on 2 cores)")
    p.add_argument("--peer-workers", type=int, default=0, help="the peer's DataLoader workers (its default: 0)")
    p.add_argument("--channels", type=int, default=3, choices=(1, 3))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--skip-peer", action="store_true", help="only time our pipeline (no ratio)")
    return p.parse_args()


def run_peer(args, data_root: Path) -> dict:
    cmd = [sys.executable, str(PEER), "--minutes", str(args.minutes), "--size", str(args.size), "--batch", str(args.batch),
           "--threads", str(args.threads), "--workers", str(args.peer_workers), "--channels", str(args.channels),
           "--seed", str(args.seed), "--data", str(data_root)]
    print("peer:", " ".join(cmd), flush=True)
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"peer baseline failed ({out.returncode}):\n{out.stderr[-3000:]}")
    lines = [l for l in out.stdout.splitlines() if l.strip()]
    for l in lines[-4:-1]: print("  peer |", l, flush=True)
    return json.loads(lines[-1])


def run_ours(args, data_root: Path) -> dict:
    from fastai.callback.core import Callback, CancelFitException, CancelValidException
    from fastai.torch_core import find_bs, set_seed
    from cxr_nb.classify.learner import model_learner
    from cxr_nb.data.dataloaders import classification_dls
    from cxr_nb.data.datasets import load_kermany
    from cxr_nb.data.splits import patient_split
    from cxr_nb.io import PILCXR, PILCXR3

    torch.set_num_threads(args.threads)
    set_seed(args.seed)
    df = load_kermany(data_root / "kermany")
    # the peer holds out a random 10 % of the *images*; our DataLoaders refuse a split that puts a patient on
    # both sides, so we hold out 10 % of the patients (seed 0): same folder, about the same number of images
    df = patient_split(df[df.split == "train"].reset_index(drop=True), valid_pct=0.1, seed=args.seed)
    dls = classification_dls(df, size=args.size, bs=args.batch, num_workers=args.workers,
                             img_cls=PILCXR3 if args.channels == 3 else PILCXR)
    model = torchvision.models.resnet18(weights=None, num_classes=2)
    if args.channels == 1:
        model.conv1 = torch.nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3, bias=False)

    budget = args.minutes * 60.0

    class Throughput(Callback):
        "Counts training images and training seconds; stops at the budget; skips validation."
        order = 90
        def before_fit(self): self.seen, self.train_s, self.t = 0, 0.0, None
        def before_train(self): self.t = time.perf_counter()
        def after_batch(self):
            if not self.training: return
            self.seen += find_bs(self.yb)
            if self.train_s + time.perf_counter() - self.t >= budget: raise CancelFitException
        def after_train(self): self.train_s += time.perf_counter() - self.t
        def after_cancel_fit(self):
            if self.t is not None and self.training: self.train_s += time.perf_counter() - self.t
        def before_validate(self): raise CancelValidException

    tp = Throughput()
    learn = model_learner(dls, model, lr=1e-3, cbs=tp)
    n_train = len(dls.train_ds)
    workers = dls.train.fake_l.num_workers
    print(f"ours: train={n_train} valid={len(dls.valid_ds)} workers={workers} threads={torch.get_num_threads()}", flush=True)
    with learn.no_logging():
        learn.fit(100, 1e-3)
    img_s = tp.seen / tp.train_s
    print(f"ours: {tp.seen} images in {tp.train_s:.1f} s -> {img_s:.2f} img/s", flush=True)
    return {"img_s": round(img_s, 3), "workers": workers, "train_images_seen": tp.seen, "train_seconds": round(tp.train_s, 1), "train_images": n_train}


def main():
    args = parse_args()
    from cxr_nb.io import find_dataset
    data_root = find_dataset("kermany").parent
    res = {"script": "train_loop", "minutes": args.minutes, "size": args.size, "batch": args.batch, "threads": args.threads,
           "peer_workers": args.peer_workers, "channels": args.channels, "torch": torch.__version__}
    peer = None if args.skip_peer else run_peer(args, data_root)
    ours = run_ours(args, data_root)
    res.update(ours)
    if peer is not None:
        res["peer_img_s"] = peer["train_images_per_s"]
        res["peer_data_wait_fraction"] = peer["train_data_wait_fraction"]
        res["ratio"] = round(ours["img_s"] / peer["train_images_per_s"], 3)
        print(f"ours {ours['img_s']:.2f} img/s, peer {peer['train_images_per_s']:.2f} img/s, ratio {res['ratio']:.3f}", flush=True)
    print(json.dumps(res), flush=True)


if __name__ == "__main__":
    main()
