#!/usr/bin/env python
"""Lung + heart segmentation on JSRT: our segmenter (cxr_nb.seg.segmenter) against the MONAI peer, one run.

Both train from random initialisation for the same wall-clock budget on this machine, on the same
JSRT split (the peer's: sorted image names, np.random.RandomState(0).permutation, 200 train / 40
test), and are scored the same way: per-image Dice of lungs (left + right) and heart (heart painted
over the lungs where the SCR masks overlap) on the 40 test images at their own 512 x 512 size.

Ours: images decoded and resized once into memory; classic U-Net (widths 16-256, 4 down-samplings,
batch norm, channels-last) run at half size behind a strided convolution (MONAI's UNet layout), Dice + cross-entropy, AdamW with a one-cycle schedule driven by the clock; batch
augmentation of exposure (gamma), brightness, contrast, scale, shift/crop, rotation and warp (no flip);
post-processing (two lungs, one heart, holes filled). Then the peer
(`../shared/bench/peer_lungseg_monai.py --minutes M`) runs as a subprocess and its last JSON line is
parsed. Training/inference images/s of both are measured the same way (images seen / training
seconds; test images / seconds of the model's forward passes at batch 8).

Also reported: the Dice of the JSRT-trained segmenter on phantoms (`cxr_nb.phantom.render`), and with
--opacity-minutes M an opacity segmenter trained and tested on ../shared/data/covid_opacity (seeded
stratified 70/30 split) and on phantom pneumonia: Dice on the positive cases and case-level TPR/TNR
of the box rule (positive when a box of >= --min-area pixels at 256 px remains), and the F1 of Chang &
Huang's overlap rule (a true positive needs a predicted box overlapping a true one). The opacity recipe
(--opacity-recipe) is by default Chang & Huang's: pixel cross-entropy, batch control (half of every
batch with an opacity), flip / rotation / contrast augmentation, Adam at a constant rate, a small U-Net
(--opacity-width 8, --opacity-depth 3, stride 1) at --opacity-size 64 px; "lung" is the lung
segmenter's recipe (Dice + CE, one-cycle AdamW, CPU_UNET at 256 px) that found nothing in 2 minutes.

The last line printed is one JSON object: dice_lungs, dice_heart, peer_dice_lungs, peer_dice_heart,
train_img_s, peer_train_img_s, infer_img_s, minutes (and more).

usage: flock /tmp/cxr_heavy.lock python bench/segment.py [--minutes 10] [--no-peer] [--opacity-minutes 0]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from glob import glob
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from cxr_nb.data.datasets import load_covid_opacity, load_jsrt, read_mask
from cxr_nb.io import find_dataset
from cxr_nb.phantom.render import make_phantom
from cxr_nb.phantom.layouts import write_jsrt_layout
from cxr_nb.boxes import case_outcome, case_positive, mask_to_boxes, outcome_target_pred
from cxr_nb.evaluate.metrics import binary_counts, f1, recall, tnr
from cxr_nb.seg.segmenter import Segmenter, dice_score, evaluate_segmenter, train_segmenter
from cxr_nb.data.dataloaders import paper_seg_aug, seg_arrays

REPO = Path(__file__).resolve().parent.parent


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=10.0, help="wall-clock training budget of each side")
    p.add_argument("--seed", type=int, default=0, help="training seed")
    p.add_argument("--split-seed", type=int, default=0, help="seed of the peer's 200/40 split")
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--bs", type=int, default=8)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--arch", default="unet")
    p.add_argument("--width", type=int, default=16, help="classic U-Net: channels of the first stage")
    p.add_argument("--depth", type=int, default=4, help="classic U-Net: number of down-samplings")
    p.add_argument("--stride", type=int, default=2, help="classic U-Net: 2 runs it at half size behind a strided conv")
    p.add_argument("--low-res", type=float, default=0.0,
                   help="share of the budget trained at half size first (progressive resizing); 0: all at --size")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--no-peer", action="store_true", help="skip the MONAI peer (development runs)")
    p.add_argument("--no-jsrt", action="store_true", help="skip our JSRT training (e.g. opacity only)")
    p.add_argument("--peer", default=str(REPO.parent / "shared" / "bench" / "peer_lungseg_monai.py"))
    p.add_argument("--phantoms", type=int, default=40, help="phantoms to score the JSRT segmenter on (0: skip)")
    p.add_argument("--opacity-minutes", type=float, default=0.0, help="train/test the opacity segmenters (0: skip)")
    p.add_argument("--min-area", type=int, default=100, help="box rule: smallest opacity component (pixels at 256 px)")
    p.add_argument("--opacity-recipe", choices=("paper", "lung"), default="paper",
                   help="paper: Chang & Huang's (CE, batch control, flip, constant Adam, small U-Net); lung: the lung recipe")
    p.add_argument("--opacity-size", type=int, default=64, help="paper recipe: training size of the opacity U-Net")
    p.add_argument("--opacity-width", type=int, default=8, help="paper recipe: U-Net width")
    p.add_argument("--opacity-depth", type=int, default=3, help="paper recipe: U-Net depth")
    p.add_argument("--save", default="", help="save our JSRT segmenter here (Segmenter file)")
    return p.parse_args()


def peer_split(jsrt: Path, split_seed: int):
    "The peer's split, verbatim: sorted PNG names of images/, RandomState(seed).permutation, 200 / 40."
    names = sorted(os.path.basename(p) for p in glob(os.path.join(str(jsrt), "images", "*.png")))
    perm = np.random.RandomState(split_seed).permutation(len(names))
    return [names[i] for i in perm[:200]], [names[i] for i in perm[200:240]]


def run_jsrt(args, out: dict):
    jsrt = find_dataset("jsrt")
    df = load_jsrt(jsrt)
    df["name"] = [Path(p).name for p in df.path]
    train_names, test_names = peer_split(jsrt, args.split_seed)
    by_name = df.set_index("name")
    missing = [n for n in train_names + test_names if n not in by_name.index]
    if missing: raise SystemExit(f"load_jsrt lost {len(missing)} image(s) of the peer's split: {missing[:5]}")
    train, test = by_name.loc[train_names].reset_index(), by_name.loc[test_names].reset_index()
    structures = ("lungs", "heart")
    t0 = time.perf_counter()
    arrays = seg_arrays(train, structures, args.size, progress=False)
    cache_s = time.perf_counter() - t0
    print(f"ours: train={len(train)} test={len(test)} cache_s={cache_s:.1f} budget_s={args.minutes * 60:.0f} "
          f"threads={torch.get_num_threads()} arch={args.arch} width={args.width} depth={args.depth} stride={args.stride} bs={args.bs} lr={args.lr}", flush=True)
    seg, learn = train_segmenter(train, structures=structures, arch=args.arch, size=args.size, minutes=args.minutes,
                                 lr=args.lr, bs=args.bs, seed=args.seed, arrays=arrays, progress=False,
                                 width=args.width, depth=args.depth, stride=args.stride, low_res=args.low_res)
    st = learn.train_stats
    full = st["by_size"].get(args.size, {"images": 0, "seconds": 0., "images_per_s": float("nan")})
    n_params = sum(p.numel() for p in seg.model.parameters())
    print(f"ours: trained {st['steps']} steps, {st['images']} images in {st['seconds']:.0f}s "
          f"({st['images_per_s']:.1f} img/s overall, {st['images'] / len(train):.1f} epochs), params={n_params}", flush=True)
    for k, v in sorted(st["by_size"].items()):
        print(f"ours:   at {k} px: {v['images']} images in {v['seconds']:.0f}s of steps ({v['images_per_s']:.1f} img/s)", flush=True)
    t_eval = time.perf_counter()
    seg.timing = {"forward_s": 0., "images": 0}
    ev = evaluate_segmenter(seg, test, bs=8, post=True, progress=False)
    infer = seg.timing["images"] / seg.timing["forward_s"]
    ev_raw = evaluate_segmenter(seg, test, bs=8, post=False, progress=False)
    eval_s = time.perf_counter() - t_eval
    worst = ev.assign(name=[Path(p).name for p in ev.path]).nsmallest(3, "dice_heart")[["name", "dice_lungs", "dice_heart"]]
    print("ours: worst three test images by heart Dice:\n" + worst.to_string(index=False), flush=True)
    out.update(dice_lungs=float(ev.dice_lungs.mean()), dice_heart=float(ev.dice_heart.mean()),
               dice_lungs_no_post=float(ev_raw.dice_lungs.mean()), dice_heart_no_post=float(ev_raw.dice_heart.mean()),
               iou_lungs=float(ev.iou_lungs.mean()), iou_heart=float(ev.iou_heart.mean()),
               train_img_s=round(st["images_per_s"] if not args.low_res else full["images_per_s"], 2), train_img_s_overall=round(st["images_per_s"], 2),
               low_res=args.low_res, images_at_full_size=int(full["images"]), train_seconds=round(st["seconds"], 1),
               train_images_seen=int(st["images"]), steps=int(st["steps"]), epochs=round(st["images"] / len(train), 1),
               infer_img_s=round(infer, 1), eval_seconds=round(eval_s, 1), cache_seconds=round(cache_s, 1),
               params=int(n_params))
    if args.save:
        seg.meta.update(dice_lungs=out["dice_lungs"], dice_heart=out["dice_heart"], split="peer 200/40 seed 0")
        seg.save(args.save)
        print(f"ours: saved {args.save}", flush=True)
    return seg


def run_phantoms(seg: Segmenter, n: int, out: dict):
    "Dice of the JSRT-trained segmenter on phantoms written in the JSRT layout (512 px, like JSRT here)."
    with tempfile.TemporaryDirectory() as tmp:
        ph = load_jsrt(write_jsrt_layout(Path(tmp) / "ph", n=n, seed=123, size=512))
        ev = evaluate_segmenter(seg, ph, progress=False)
    out.update(phantom_dice_lungs=float(ev.dice_lungs.mean()), phantom_dice_heart=float(ev.dice_heart.mean()),
               phantom_n=n)
    print(f"ours on {n} phantoms (512 px): Dice lungs {out['phantom_dice_lungs']:.3f}, heart {out['phantom_dice_heart']:.3f}",
          flush=True)


def _opacity_scores(seg: Segmenter, imgs, true_masks, min_area: int, prefix: str, out: dict):
    labs = seg.label_maps(list(imgs), progress=False)
    dices, pred_pos, true_pos, overlap = [], [], [], []
    for lab, t in zip(labs, true_masks):
        p = lab == 1
        scale = (256 / max(p.shape)) ** 2   # min_area is given at 256 px
        boxes = mask_to_boxes(p, min_area=int(round(min_area / scale)))
        pred_pos.append(case_positive(boxes))
        true_pos.append(bool(t.any()))
        overlap.append(outcome_target_pred(case_outcome(mask_to_boxes(t), boxes)))
        if t.any(): dices.append(dice_score(p, t))
    r = dict(**binary_counts(true_pos, pred_pos), tpr=recall(true_pos, pred_pos), tnr=tnr(true_pos, pred_pos))
    ot, op = [a for a, _ in overlap], [b for _, b in overlap]
    out.update({f"{prefix}_dice": float(np.mean(dices)), f"{prefix}_tpr": r["tpr"], f"{prefix}_tnr": r["tnr"],
                f"{prefix}_counts": {k: r[k] for k in ("tp", "fn", "tn", "fp")}, f"{prefix}_f1_overlap": f1(ot, op),
                f"{prefix}_counts_overlap": binary_counts(ot, op)})
    print(f"{prefix}: Dice (positive cases, n={len(dices)}) {np.mean(dices):.3f}; box rule (min area {min_area} px at 256): "
          f"TPR {r['tpr']:.3f} TNR {r['tnr']:.3f} (tp={r['tp']} fn={r['fn']} tn={r['tn']} fp={r['fp']}); with the overlap "
          f"rule F1 {f1(ot, op):.3f} {binary_counts(ot, op)}", flush=True)


def _steps(learn, prefix: str, out: dict):
    st = learn.train_stats
    out.update({f"{prefix}_steps": int(st["steps"]), f"{prefix}_train_img_s": round(st["images_per_s"], 1)})
    print(f"{prefix}: {st['steps']} steps, {st['images']} images in {st['seconds']:.0f}s ({st['images_per_s']:.1f} img/s)", flush=True)


def _opacity_recipe(args) -> dict:
    "train_segmenter arguments of the opacity recipe."
    if args.opacity_recipe == "lung":
        return dict(size=256, lr=args.lr, bs=args.bs, width=args.width, depth=args.depth, stride=args.stride)
    return dict(size=args.opacity_size, lr=args.lr, bs=6, width=args.opacity_width, depth=args.opacity_depth, stride=1,
                loss="ce", batch_control=3, aug=paper_seg_aug(), schedule="constant", wd=0.)


def run_opacity(args, out: dict):
    # real: COVID-19 radiographs with radiologist opacity masks, stratified seeded 70/30 split
    df = load_covid_opacity(find_dataset("covid_opacity"))
    rng = np.random.RandomState(args.seed)
    test_idx = []
    for _, g in df.groupby(df.label.astype(int)):
        idx = rng.permutation(g.index.to_numpy())
        test_idx += list(idx[:max(1, int(round(0.3 * len(idx))))])
    test, train = df.loc[sorted(test_idx)], df.drop(index=test_idx)
    print(f"covid_opacity: train {len(train)} ({int(train.label.sum())} with opacity), test {len(test)} "
          f"({int(test.label.sum())} with opacity)", flush=True)
    recipe = _opacity_recipe(args)
    print(f"opacity recipe {args.opacity_recipe}: " + ", ".join(f"{k}={v}" for k, v in recipe.items() if k != "aug"), flush=True)
    seg, learn = train_segmenter(train, structures=("opacity",), minutes=args.opacity_minutes, seed=args.seed,
                                 progress=False, **recipe)
    _steps(learn, "covid_opacity", out)
    _opacity_scores(seg, test.path, [read_mask(m) for m in test.mask_opacity], args.min_area, "covid_opacity", out)
    # phantoms: half without opacity, half with 1-3 opacity regions
    def phantoms(seeds):
        ims, ms = [], []
        for s in seeds:
            k = 0 if s % 2 == 0 else 1 + (s // 2) % 3
            p = make_phantom(int(s), size=256, n_opacities=k)
            ims.append(p["image"]); ms.append(p["masks"].get("Lung Opacity", np.zeros((256, 256), bool)))
        return ims, ms
    ims, ms = phantoms(range(1000, 1160))
    x = torch.from_numpy(np.stack([np.rint(np.clip(i, 0, 1) * 255).astype(np.uint8) for i in ims]))[:, None]
    y = torch.from_numpy(np.stack(ms).astype(np.uint8))
    if recipe["size"] != 256:   # the arrays at the training size (area for the image, nearest for the mask)
        x = torch.nn.functional.interpolate(x.float(), size=recipe["size"], mode="area").round().to(torch.uint8)
        y = torch.nn.functional.interpolate(y[:, None].float(), size=recipe["size"], mode="nearest")[:, 0].to(torch.uint8)
    seg_p, learn_p = train_segmenter(None, structures=("opacity",), minutes=args.opacity_minutes, seed=args.seed,
                                     arrays=(x, y), progress=False, **recipe)
    _steps(learn_p, "phantom_opacity", out)
    ims_t, ms_t = phantoms(range(5000, 5080))
    _opacity_scores(seg_p, [np.asarray(i, np.float32) for i in ims_t], ms_t, args.min_area, "phantom_opacity", out)


def run_peer(args, out: dict):
    if not Path(args.peer).is_file():
        print(f"peer: {args.peer} not found, skipped", flush=True); return
    cmd = [sys.executable, args.peer, "--minutes", str(args.minutes), "--seed", str(args.seed),
           "--split-seed", str(args.split_seed), "--threads", str(args.threads)]
    print("peer: " + " ".join(cmd), flush=True)
    t = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=str(REPO))
    lines = [l for l in r.stdout.splitlines() if l.strip().startswith("{")]
    if r.returncode or not lines:
        print(f"peer failed (exit {r.returncode}):\n{r.stderr[-2000:]}", flush=True); return
    res = json.loads(lines[-1])
    out.update(peer_dice_lungs=res["jsrt_test_dice_lungs"], peer_dice_heart=res["jsrt_test_dice_heart"],
               peer_train_img_s=res["train_images_per_s"], peer_infer_img_s=res["infer_images_per_s"],
               peer_epochs=res["epochs_completed"], peer_params=res["params"], peer_wall_s=round(time.perf_counter() - t, 1))
    print(f"peer: Dice lungs {res['jsrt_test_dice_lungs']:.4f} heart {res['jsrt_test_dice_heart']:.4f}, "
          f"{res['train_images_per_s']:.1f} train img/s, {res['infer_images_per_s']:.1f} infer img/s, "
          f"{res['epochs_completed']} epochs", flush=True)


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    out = {"script": "bench/segment.py", "minutes": args.minutes, "seed": args.seed, "split_seed": args.split_seed,
           "size": args.size, "arch": args.arch, "width": args.width, "depth": args.depth, "stride": args.stride, "bs": args.bs, "lr": args.lr, "low_res": args.low_res,
           "load_avg_start": os.getloadavg()[0]}
    seg = None
    if not args.no_jsrt:
        seg = run_jsrt(args, out)
        if args.phantoms: run_phantoms(seg, args.phantoms, out)
    if not args.no_peer and not args.no_jsrt: run_peer(args, out)
    if args.opacity_minutes > 0: run_opacity(args, out)
    out["wall_seconds"] = round(time.perf_counter() - t0, 1)
    out["load_avg_end"] = os.getloadavg()[0]
    if "peer_dice_lungs" in out:
        print("\n| | ours | MONAI peer | ratio ours/peer |\n|---|---|---|---|")
        for k, name in (("dice_lungs", "test Dice lungs (512 px)"), ("dice_heart", "test Dice heart (512 px)"),
                        ("train_img_s", f"training images/s (at {args.size} px)"), ("infer_img_s", "inference images/s")):
            ours, peer = out[k], out[f"peer_{k}"]
            print(f"| {name} | {ours:.4f} | {peer:.4f} | {ours / peer:.3f} |")
        print(f"| 1 - Dice (error) lungs / heart | {1 - out['dice_lungs']:.4f} / {1 - out['dice_heart']:.4f} | "
              f"{1 - out['peer_dice_lungs']:.4f} / {1 - out['peer_dice_heart']:.4f} | |")
    print(f"wall time {out['wall_seconds']:.0f}s; load average {out['load_avg_start']:.1f} -> {out['load_avg_end']:.1f} "
          f"(other jobs on the 2 cores slow both sides)", flush=True)
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
