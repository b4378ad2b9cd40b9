#!/usr/bin/env python
"""Phantom generation speed: images per second of `make_phantom` on one core.

Run from the project root (under the shared lock, it is a benchmark):
    flock /tmp/cxr_heavy.lock python bench/phantom.py [--size 256] [--n 300]
Prints images/s for plain phantoms and for phantoms with findings, and ends with one JSON line
(`img_s` is the plain-phantom figure at `size`).
"""
import argparse
import json
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
import cv2
import torch

cv2.setNumThreads(1)
torch.set_num_threads(1)

from cxr_nb.phantom.render import make_phantom  # noqa: E402
from cxr_nb.vocab import PHANTOM_FINDINGS  # noqa: E402


def rate(n, size, **kw):
    for s in range(5):                      # warm-up (caches, first-call costs)
        make_phantom(s, size, **kw)
    t0 = time.perf_counter()
    for s in range(n):
        make_phantom(1000 + s, size, **kw)
    return n / (time.perf_counter() - t0)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--n", type=int, default=300)
    args = ap.parse_args()
    plain = rate(args.n, args.size)
    findings = rate(args.n // 3, args.size, findings=PHANTOM_FINDINGS[:3])
    ilo = rate(args.n // 3, args.size, ilo_category=2)
    print(f"make_phantom at {args.size} px, one core: {plain:.1f} img/s plain, {findings:.1f} img/s with 3 findings, "
          f"{ilo:.1f} img/s with ILO category 2 opacities; target >= 50 img/s: ratio {plain / 50:.2f}")
    print(json.dumps({"img_s": round(plain, 1), "img_s_findings": round(findings, 1), "img_s_ilo": round(ilo, 1),
                      "size": args.size, "n": args.n, "threads": 1}))


if __name__ == "__main__":
    main()
