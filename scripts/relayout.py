#!/usr/bin/env python
"""Move cxr_nb from flat modules to subpackages (issue 23), and rewrite old module paths.

    python scripts/relayout.py            # rewrite old `cxr_nb.X` paths, `default_exp` lines and notebook names
                                          # in every tracked text file (idempotent; what branches run after a merge)
    python scripts/relayout.py --check    # list what is left to rewrite, exit 1 if anything is
    python scripts/relayout.py --move     # (once, on main) git mv the notebooks, then rewrite

Nothing here changes behaviour: a module keeps its code and gets a new dotted name. Names that later left
their module for another (NAME_MOVES) are imported from their new home: `from cxr_nb.<old> import a, b`
lines are split per home module, and `cxr_nb.<old>.<name>` spellings are rewritten.
"""
import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# old module -> (new dotted module, old notebook stem, new notebook stem)
MOVES = {
    "io":              ("io",                 "00_io",               "00_io"),
    "checks":          ("checks",             "00a_checks",          "01_checks"),
    "boxes":           ("boxes",              "00b_boxes",           "02_boxes"),
    "vocab":           ("vocab",              "00c_vocab",           "03_vocab"),
    "pretrained":      ("pretrained",         "00d_pretrained",      "04_pretrained"),
    "phantom":         ("phantom.render",     "02_phantom",          "10_phantom.render"),
    "phantom_layouts": ("phantom.layouts",    "02b_phantom_layouts", "11_phantom.layouts"),
    "preprocess":      ("data.preprocess",    "01_preprocess",       "20_data.preprocess"),
    "datasets":        ("data.datasets",      "03_datasets",         "21_data.datasets"),
    "splits":          ("data.splits",        "03b_splits",          "22_data.splits"),
    "dataloaders":     ("data.dataloaders",   "03c_dataloaders",     "23_data.dataloaders"),
    "segment":         ("seg.segmenter",      "04_segment",          "30_seg.segmenter"),
    "lung_region":     ("seg.lung_region",    "04b_lung_region",     "31_seg.lung_region"),
    "seg_archs":       ("seg.nets",           "04c_seg_archs",       "32_seg.nets"),
    "classify":        ("classify.learner",   "05_classify",         "40_classify.learner"),
    "runners":         ("classify.runners",   "05b_runners",         "41_classify.runners"),
    "metrics":         ("evaluate.metrics",   "06_metrics",          "50_evaluate.metrics"),
    "interpret":       ("evaluate.interpret", "07_interpret",        "51_evaluate.interpret"),
    "plots":           ("evaluate.plots",     "08_plots",            "52_evaluate.plots"),
    "widgets":         ("explore.widgets",    "11_widgets",          "60_explore.widgets"),
    "run_widgets":     ("explore.run_widgets", "11b_run_widgets",    "61_explore.run_widgets"),
    "parameters":      ("papers.parameters",  "08b_parameters",      "70_papers.parameters"),
    "experiment":      ("papers.kit",         "09_experiment",       "71_papers.kit"),
    "bundle":          ("deploy.bundle",      "09b_bundle",          "80_deploy.bundle"),
    "reproduce":       ("cli",                "10_reproduce",        "99_cli"),
}
MOVED = {old: new for old, (new, _, _) in MOVES.items() if old != new}
# Subpackages whose name is also an old module's name: `cxr_nb.classify.<sub>` is already new.
PKG_SUBS = {"phantom": r"render|layouts|anatomy", "classify": r"learner|runners|losses|models|nets|samplers"}
SUBPACKAGES = {
    "phantom": "Synthetic chest radiographs with exact truth (rendering) and folders of them in each data set's layout.",
    "data": "From files to batches: preprocessing and its cache, one DataFrame per data set, patient-level splits, DataLoaders.",
    "seg": "Segmentation: the networks, the saved `Segmenter`, and the lung regions cut out with it.",
    "classify": "Classification: losses, networks and learners, and the runners that train folds and trials.",
    "evaluate": "What a model did: metrics with confidence intervals, interpretation (CAM, feature maps), the papers' figures.",
    "explore": "Interactive explorers for JupyterLab, with static fallbacks where no live kernel draws widgets.",
    "papers": "The four papers: the parameters cell, the kit every paper notebook shares, one module per paper.",
    "deploy": "After a notebook: model bundles, `cxr-nb predict` and `cxr-nb evaluate`.",
}

# Names that left their module after the layout (issue 23, part 3: one concept, one home):
# (old module, name) -> new module. `from cxr_nb.<old> import a, b` lines are split so each name is imported from its home.
NAME_MOVES = {
    **{("evaluate.metrics", n): "evaluate.calibration" for n in (
        "temperature_nll", "fit_temperature", "apply_temperature", "reliability_table", "expected_calibration_error",
        "brier_score")},
    **{("data.preprocess", n): "data.cache" for n in (
        "prepare_cxr", "read_cached", "prepare_array", "cache_images", "PILCachedCXR", "PILCachedCXR3", "cached_getter", "use_cached", "cache_shards", "expand_brightness_levels")},
    **{("data.datasets", n): "data.files" for n in ("check_images", "write_box_masks")},
    **{("classify.learner", n): "classify.nets" for n in (
        "TXV_STATS", "DENSENET_STEMS", "REDUCTION_READINGS", "ATTENTION_VARIANTS", "MASK_POOLING", "FEATURE_ACTIVATIONS", "OWN_ARCHS", "WheelBody", "txv_weights_file", "cxr_vision_model", "DenseNetBC", "densenet40", "densenet64", "densenet53", "count_parameters", "MultiScaleSpatialAttention", "MaskWeighting", "CXRIRNet", "small_cnn", "HighPass", "small_cnn_hp")},
    **{("classify.learner", n): "data.dataloaders" for n in (
        "batch_control_batches", "BatchControlSampler", "BatchControlDL", "_Stream")},
    ("explore.widgets", "image_header"): "io",
    **{("evaluate.metrics", n): "evaluate.published" for n in (
        "clopper_pearson", "difference_interval", "published_confusion", "published_intervals")},
    **{("seg.segmenter", n): "data.dataloaders" for n in (
        "seg_arrays", "SegAugment", "seg_aug", "paper_seg_aug", "memory_seg_dls")},
    **{("seg.segmenter", n): "seg.nets" for n in ("InputStandardize", "UNet", "SEG_ARCHS", "seg_model", "CPU_UNET")},
    **{("papers.kit", n): "papers.results" for n in (
        "HeldOut", "held_out", "epoch_window", "epoch_window_accuracy", "per_run_scores", "paper_row", "ablation_table")},
    **{("deploy.bundle", n): "deploy.evaluate" for n in ("Evaluation", "evaluate_bundle", "evaluation_html")},
    **{("deploy.bundle", n): "deploy.commands" for n in ("add_bundle_commands", "run_bundle_command")},
}

TEXT_SUFFIXES = {".py", ".ipynb", ".md", ".toml", ".sh", ".txt", ".yml", ".yaml", ".cfg", ".json", ".html"}
SKIP = {"scripts/relayout.py", "cxr_nb/_modidx.py", "tests/test_layout.py"}


def _rules():
    rules = []
    for old, new in sorted(MOVED.items(), key=lambda kv: -len(kv[0])):
        if old in PKG_SUBS:
            # `from cxr_nb.classify import`, `import cxr_nb.classify as`, `cxr_nb.classify.focal_loss` -> learner;
            # a bare `cxr_nb.classify` now names the subpackage and `cxr_nb.classify.learner` is already new
            pat = rf"\bcxr_nb\.{old}(?=\s+(?:import|as)\b|\.(?!(?:{PKG_SUBS[old]})\b)[A-Za-z_])"
        else:
            pat = rf"\bcxr_nb\.{old}(?!\w)"
        rules.append((re.compile(pat), f"cxr_nb.{new}"))
        # file paths of exported modules, e.g. in show_doc's [source] links and in tests
        rules.append((re.compile(rf"\bcxr_nb/{old}\.py\b"), f"cxr_nb/{new.replace('.', '/')}.py"))
        rules.append((re.compile(rf"(#\|\s*default_exp\s+){old}(?=\s*(?:\\n|\"|$))", re.M), rf"\g<1>{new}"))
    for old, (new, old_nb, new_nb) in MOVES.items():
        if old_nb != new_nb:
            rules.append((re.compile(rf"(?<![\w.]){re.escape(old_nb)}(?=\.ipynb|\b)"), new_nb))
    return rules


_FROM_PKG = re.compile(r"^(?P<indent>[ \t]*)from cxr_nb import (?P<items>[^\n()\\]+?)(?P<tail>[ \t]*(?:#[^\n]*)?)$", re.M)


def _split_from_pkg(items: str):
    """The items of `from cxr_nb import <items>` as (moved `cxr_nb.new as alias` imports, kept items); None if none moved."""
    parsed = [(s.split(" as ")[0].strip(), (s.split(" as ")[1].strip() if " as " in s else None))
              for s in (s.strip() for s in items.split(","))]
    if not any(name in MOVED for name, _ in parsed):
        return None
    return ([f"cxr_nb.{MOVED[n]} as {a or n}" for n, a in parsed if n in MOVED],
            [f"{n} as {a}" if a else n for n, a in parsed if n not in MOVED])


def _from_pkg(m):
    """`from cxr_nb import datasets as D, io` -> `import cxr_nb.data.datasets as D` + `from cxr_nb import io`."""
    split = _split_from_pkg(m["items"])
    if split is None:
        return m.group(0)
    moved, kept = split
    lines = [f"{m['indent']}import {', '.join(moved)}{m['tail']}"]
    if kept:
        lines.append(f"{m['indent']}from cxr_nb import {', '.join(kept)}")
    return "\n".join(lines)


def _from_pkg_json(text):
    """The same inside a notebook's JSON (each source line is a JSON string ending in \\n)."""
    pat = re.compile(r'^(?P<q>\s*")(?P<indent>[ \t]*)from cxr_nb import (?P<items>[^"\n()\\]+?)(?P<tail>[ \t]*(?:#[^"\n]*)?)(?P<nl>\\n)?(?P<end>",?)$', re.M)

    def sub(m):
        split = _split_from_pkg(m["items"])
        if split is None:
            return m.group(0)
        moved, kept = split
        nl = m["nl"] or ""
        if kept:
            return (f'{m["q"]}{m["indent"]}import {", ".join(moved)}{m["tail"]}\\n",\n'
                    f'{m["q"]}{m["indent"]}from cxr_nb import {", ".join(kept)}{nl}{m["end"]}')
        return f'{m["q"]}{m["indent"]}import {", ".join(moved)}{m["tail"]}{nl}{m["end"]}'
    return pat.sub(sub, text)


_FROM_MOD = re.compile(r"^(?P<indent>[ \t]*)from cxr_nb\.(?P<mod>[\w.]+) import "
                       r"(?:\((?P<par>[^)]*)\)|(?P<items>[^\n()\\#]+?))(?P<tail>[ \t]*(?:#[^\n]*)?)$", re.M)


# a moved name spelled with its old module, e.g. `cxr_nb.evaluate.metrics.fit_temperature` in prose or show_doc links
_DOTTED = re.compile(r"\bcxr_nb\.(" + "|".join(sorted({re.escape(m) for m, _ in NAME_MOVES}, key=len, reverse=True)) + r")\.(\w+)\b"
                     ) if NAME_MOVES else None


def _split_names(m):
    """`from cxr_nb.evaluate.metrics import roc_auc, fit_temperature` -> one import line per home module."""
    mod = m["mod"]
    body = m["par"] if m["par"] is not None else m["items"]
    items = [s.strip() for s in re.sub(r"#[^\n]*", "", body).replace("\n", " ").split(",") if s.strip()]
    homes = {}
    for s in items:
        homes.setdefault(NAME_MOVES.get((mod, s.split(" as ")[0].strip()), mod), []).append(s)
    if list(homes) == [mod]:
        return m.group(0)
    wrap = (lambda t: f"({t})") if m["par"] is not None else (lambda t: t)
    lines = [f"{m['indent']}from cxr_nb.{home} import {wrap(', '.join(names))}" for home, names in homes.items()]
    lines[0] += m["tail"]
    return "\n".join(lines)


def _split_names_nb(text):
    """The same in each cell of a notebook (a cell's lines are JSON strings: rewrite the decoded source)."""
    nb = json.loads(text)
    changed = False
    for c in nb.get("cells", []):
        src = "".join(c.get("source", []))
        new = _FROM_MOD.sub(_split_names, src)
        if new != src:
            lines = new.split("\n")
            c["source"] = [l + "\n" for l in lines[:-1]] + ([lines[-1]] if lines[-1] else [])
            changed = True
    return json.dumps(nb, indent=1, ensure_ascii=False) + "\n" if changed else text


def rewrite(text: str, suffix: str) -> str:
    for pat, new in _rules():
        text = pat.sub(new, text)
    text = _from_pkg_json(text) if suffix == ".ipynb" else _FROM_PKG.sub(_from_pkg, text)
    if not NAME_MOVES:
        return text
    text = _split_names_nb(text) if suffix == ".ipynb" else _FROM_MOD.sub(_split_names, text)
    return _DOTTED.sub(lambda m: f"cxr_nb.{NAME_MOVES[m[1], m[2]]}.{m[2]}" if (m[1], m[2]) in NAME_MOVES else m[0], text)


def tracked_files():
    out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True, check=True)
    for rel in out.stdout.splitlines():
        p = ROOT / rel
        if rel in SKIP or p.suffix not in TEXT_SUFFIXES or not p.is_file():
            continue
        yield rel, p


def move():
    for old, (new, old_nb, new_nb) in MOVES.items():
        src, dst = ROOT / "nbs" / f"{old_nb}.ipynb", ROOT / "nbs" / f"{new_nb}.ipynb"
        if src.exists() and old_nb != new_nb:
            subprocess.run(["git", "mv", str(src), str(dst)], cwd=ROOT, check=True)
        old_py = ROOT / "cxr_nb" / f"{old}.py"
        if old != new and old_py.exists():
            subprocess.run(["git", "rm", "-q", "--cached", str(old_py)], cwd=ROOT, check=True)
            old_py.unlink()
    for pkg, doc in SUBPACKAGES.items():
        init = ROOT / "cxr_nb" / pkg / "__init__.py"
        init.parent.mkdir(exist_ok=True)
        if not init.exists():
            init.write_text(f'"""{doc}"""\n')


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--move", action="store_true", help="git mv the notebooks and make the subpackages first")
    ap.add_argument("--check", action="store_true", help="only list the files that still hold old paths")
    a = ap.parse_args()
    if a.move:
        move()
    left = []
    for rel, p in tracked_files():
        text = p.read_text(encoding="utf-8")
        new = rewrite(text, p.suffix)
        if new != text:
            left.append(rel)
            if not a.check:
                p.write_text(new, encoding="utf-8")
    verb = "hold old paths" if a.check else "rewritten"
    print(f"{len(left)} files {verb}" + (":\n  " + "\n  ".join(left) if left else ""))
    if a.check and left:
        sys.exit(1)


if __name__ == "__main__":
    main()
