#!/usr/bin/env python3
"""Append the course exercises to the end of every paper notebook (nbs/papers/*.ipynb), idempotently.

Any previous `## Exercises` section (the markdown cell that starts with it and every cell after it up to the next
`## ` heading that is not an exercise's `### Exercise`, or the end) is removed, then the cells of
`cxr_nb.course.exercises.exercise_cells(paper)` are appended at the very end. The exercise text lives in the
library (nbs/91_course.exercises.ipynb), so after a paper notebook is rewritten, run this again:

    python scripts/append_exercises.py            # rewrite the four paper notebooks
    python scripts/append_exercises.py --check    # exit 1 if a notebook's section differs from the library's

A notebook whose exercises name a run value it no longer defines (e.g. `hb` in Yang et al.) is an error, named.
"""
import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cxr_nb.course.exercises import EXERCISES, exercise_cells  # noqa: E402
from cxr_nb.papers.kit import PAPERS  # noqa: E402
from cxr_nb.io import atomic_write  # noqa: E402

# run values an exercise cell reads, and the assignment that must exist above the section
NEEDS = {"yang2021": {"hb": r"^\s*hb\s*=\s*held_out\("}}


def _src(c): return "".join(c["source"]) if isinstance(c["source"], list) else c["source"]


def _strip_exercises(cells: list) -> list:
    start = next((i for i, c in enumerate(cells) if c["cell_type"] == "markdown" and _src(c).lstrip().startswith("## Exercises")), None)
    if start is None: return cells
    end = next((j for j in range(start + 1, len(cells)) if cells[j]["cell_type"] == "markdown"
                and re.match(r"##\s", _src(cells[j]).lstrip()) and not _src(cells[j]).lstrip().startswith("### ")), len(cells))
    return cells[:start] + cells[end:]


def _cell(kind: str, src: str, i: int, paper: str) -> dict:
    c = {"cell_type": kind, "id": f"ex{paper[:4]}{i:02d}", "metadata": {}, "source": src.splitlines(True)}
    if kind == "code": c.update(execution_count=None, outputs=[])
    return c


def section(paper: str) -> list:
    return [_cell(k, s, i, paper) for i, (k, s) in enumerate(exercise_cells(paper))]


def apply(paper: str, check_only: bool = False) -> bool:
    "Rewrite (or compare) `paper`'s notebook; True when it already had exactly this section at its end."
    path = ROOT / "nbs" / PAPERS[paper]["notebook"]
    nb = json.loads(path.read_text(encoding="utf-8"))
    body = _strip_exercises(nb["cells"])
    text = "\n".join(_src(c) for c in body if c["cell_type"] == "code")
    for name, pattern in NEEDS.get(paper, {}).items():
        if not re.search(pattern, text, re.M):
            raise SystemExit(f"{path}: the exercises use `{name}`, but no cell assigns it ({pattern!r}); update "
                             f"cxr_nb.course.exercises (nbs/91_course.exercises.ipynb) or the notebook")
    new = body + section(paper)
    same = [(c["cell_type"], _src(c)) for c in nb["cells"]] == [(c["cell_type"], _src(c)) for c in new]
    if not check_only and not same:
        nb["cells"] = new
        with atomic_write(path, "w") as f:
            json.dump(nb, f, indent=1, ensure_ascii=False)
            f.write("\n")
    return same


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="only compare; exit 1 when a notebook needs the script")
    a = ap.parse_args(argv)
    papers = sorted({p for p, _ in EXERCISES})
    stale = [p for p in papers if not apply(p, a.check)]
    for p in papers:
        state = ("needs `python scripts/append_exercises.py`" if a.check else "rewritten") if p in stale else "up to date"
        print(f"{p}: {state}")
    return 1 if a.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
