#!/usr/bin/env python
"""The package's design rules, checked (issue 23; CONTRIBUTING.md explains each rule and why).

    python scripts/check_design.py                    # check the repository; exit 1 with a line per violation
    python scripts/check_design.py --update-baseline  # accept today's `duplicates` pairs as the baseline

Rules (the name in each violation line):

- ``module-size``: no exported module (``cxr_nb/**/*.py`` but the generated ``_modidx.py``) over 600 lines.
- ``private-import``: no module imports another module's private name: ``from .x import _y``,
  ``from cxr_nb.x import _y`` (one line or several), nor ``m._y`` through an imported module ``m``. Paper
  notebooks are held to the same rule.
- ``layer-order``: a module imports only from its own layer or the layers before it:
  foundation < phantom < data < seg < classify < evaluate < explore < papers < deploy < course < cli.
  The foundation modules are themselves ordered, checks < vocab < boxes < io < pretrained: each may import
  only those before it (so the foundation has no cycle and ``checks`` stays the bottom of everything).
  Any other layer may import freely inside itself. A new top-level name must be added to ``LAYERS``.
- ``default-exp``: every library notebook (``nbs/*.ipynb`` but ``index.ipynb``) has a ``#| default_exp``.
- ``paper-size``: no paper notebook (``nbs/papers/*.ipynb``) over 200 non-blank code lines.
- ``paper-def``: no ``def``, ``class`` or ``name = lambda`` in a paper notebook: helpers live in the
  paper's library module (``cxr_nb.papers.<name>``), where they are tested.
- ``duplicates``: the workplace's ``duplicates`` command, run over the exported modules and the paper
  notebooks' code cells (written as ``.py`` files to a temporary folder: it does not read ``.ipynb``), finds
  no pair of files that ``scripts/design_baseline.json`` does not list, and no listed pair sharing more runs
  than listed. Where ``duplicates`` is not on PATH this rule is skipped, and the summary says so.
- ``allowlist``: every ``ALLOWLIST`` entry below still matches a violation (a fixed one must be deleted).

Only the standard library: it runs before anything is installed.
"""
from __future__ import annotations

import argparse
import ast
import json
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MAX_MODULE_LINES = 600
MAX_PAPER_LINES = 200
FOUNDATION = ("checks", "vocab", "boxes", "io", "pretrained")  # in their own import order
LAYERS = ("foundation", "phantom", "data", "seg", "classify", "evaluate", "explore", "papers", "deploy",
          "course", "cli")
PACKAGE = "cxr_nb"
GENERATED = {"_modidx.py"}

# Violations that are known and being fixed, each with its reason: (rule, path, subject) -> reason.
# The subject is the imported name for private-import, the imported module for layer-order, what is defined
# ("def f") for paper-def, the other file for duplicates, "" otherwise; "*" stands for every subject of that
# rule in that file. The goal is an empty list; an entry that matches no violation any more is itself reported
# (rule `allowlist`), so the list is always exactly what is still to fix.
ALLOWLIST: dict[tuple[str, str, str], str] = {}


@dataclass(frozen=True)
class Violation:
    path: str      # relative to the root, posix
    rule: str
    message: str
    subject: str = ""

    def line(self) -> str:
        return f"{self.path}: {self.rule}: {self.message}"


# ---------------------------------------------------------------------------------------------- modules
def module_name(root: Path, path: Path) -> str:
    """`cxr_nb/data/datasets.py` -> `cxr_nb.data.datasets`; `cxr_nb/data/__init__.py` -> `cxr_nb.data`."""
    name = path.relative_to(root).with_suffix("").as_posix().replace("/", ".")
    return name.removesuffix(".__init__")


def layer_of(module: str) -> tuple[int, int] | None:
    """(layer index, rank inside the foundation) of a `cxr_nb...` module; None for the package itself or an
    unknown top-level name."""
    parts = module.split(".")
    if parts[0] != PACKAGE or len(parts) < 2:
        return None
    top = parts[1]
    if top in FOUNDATION:
        return (0, FOUNDATION.index(top))
    if top in LAYERS:
        return (LAYERS.index(top), 0)
    return None


def layer_label(module: str) -> str:
    top = module.split(".")[1]
    return f"foundation ({top})" if top in FOUNDATION else top


def exported_modules(root: Path) -> list[Path]:
    lib = root / PACKAGE
    if not lib.is_dir():
        return []
    return sorted(p for p in lib.rglob("*.py") if p.name not in GENERATED and "__pycache__" not in p.parts)


def resolve_from(current: str, is_package: bool, node: ast.ImportFrom) -> str | None:
    """The absolute module an ImportFrom reads from (None when it is not ours)."""
    if node.level == 0:
        mod = node.module or ""
        return mod if mod == PACKAGE or mod.startswith(PACKAGE + ".") else None
    base = current.split(".") if is_package else current.split(".")[:-1]
    up = node.level - 1
    if up > len(base) - 1:
        return None
    base = base[: len(base) - up]
    return ".".join(base + ([node.module] if node.module else []))


def is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def module_exists(root: Path, module: str) -> bool:
    rel = Path(*module.split("."))
    return (root / rel).with_suffix(".py").is_file() or (root / rel / "__init__.py").is_file()


def imports_of(root: Path, tree: ast.AST, current: str, is_package: bool):
    """Yield (lineno, target module, imported name or None, alias, module the alias is bound to) for every import
    of one of our modules, anywhere in the tree (function-local imports too); alias is None for a plain name."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name == PACKAGE or a.name.startswith(PACKAGE + "."):
                    # `import cxr_nb.x.y as m` binds m to cxr_nb.x.y; without `as` it binds `cxr_nb`
                    yield node.lineno, a.name, None, a.asname or PACKAGE, a.name if a.asname else PACKAGE
        elif isinstance(node, ast.ImportFrom):
            target = resolve_from(current, is_package, node)
            if target is None:
                continue
            for a in node.names:
                sub = f"{target}.{a.name}"
                if a.name != "*" and module_exists(root, sub):  # `from cxr_nb import io as cio`
                    yield node.lineno, sub, None, a.asname or a.name, sub
                else:  # an alias knows its own line (Python 3.10+): the name's line in a multi-line import
                    yield getattr(a, "lineno", node.lineno), target, a.name, None, None


def dotted(node: ast.AST) -> list[str] | None:
    """`a.b.c` as ["a", "b", "c"]; None for anything but names and attributes."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return [node.id, *reversed(parts)]


def private_uses(root: Path, tree: ast.AST, aliases: dict[str, str]):
    """Yield (lineno, module, name) for `m._y` (or `cxr_nb.x._y`) where `m` is bound to one of our modules."""
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Attribute) and is_private(node.attr)):
            continue
        chain = dotted(node.value)
        if not chain or chain[0] not in aliases:
            continue
        module = ".".join([aliases[chain[0]], *chain[1:]])
        if module_exists(root, module):
            yield node.lineno, module, node.attr


def check_code(root: Path, rel: str, tree: ast.AST, current: str, is_package: bool, layers: bool):
    """private-import (and, for a module, layer-order) violations of one parsed source."""
    out = []
    aliases = {}
    own = layer_of(current) if layers else None
    if layers and own is None and current != PACKAGE:
        out.append(Violation(rel, "layer-order", f"`{current}` is in no layer: add its top-level name to LAYERS "
                             "in scripts/check_design.py (and to CONTRIBUTING.md)", current))
    for lineno, target, name, alias, bound in imports_of(root, tree, current, is_package):
        if alias is not None:
            aliases[alias] = bound
        if name is not None and is_private(name) and target != current:
            out.append(Violation(rel, "private-import", f"line {lineno} imports `{name}` from `{target}`: make it "
                                 "public and documented there, or move the code to where it is used", name))
        if own is None or target == current:
            continue
        theirs = layer_of(target)
        if theirs is None:
            continue
        if theirs[0] > own[0] or (theirs[0] == own[0] == 0 and theirs[1] >= own[1]):
            out.append(Violation(rel, "layer-order", f"line {lineno} imports `{target}` (layer "
                                 f"{layer_label(target)}) from layer {layer_label(current)}: a module imports "
                                 "only from its own layer or those before it", target))
    for lineno, target, name in private_uses(root, tree, aliases):
        if target != current:
            out.append(Violation(rel, "private-import", f"line {lineno} uses `{name}` of `{target}`: make it "
                                 "public and documented there, or move the code to where it is used", name))
    return out


def check_modules(root: Path):
    out, paths = [], exported_modules(root)
    for p in paths:
        rel = p.relative_to(root).as_posix()
        text = p.read_text(encoding="utf-8")
        n = len(text.splitlines())
        if n > MAX_MODULE_LINES:
            out.append(Violation(rel, "module-size", f"{n} lines (at most {MAX_MODULE_LINES}): split it by concept "
                                 "into modules of the same layer"))
        try:
            tree = ast.parse(text, filename=rel)
        except SyntaxError as e:
            out.append(Violation(rel, "syntax", f"line {e.lineno}: {e.msg}"))
            continue
        out += check_code(root, rel, tree, module_name(root, p), p.name == "__init__.py", layers=True)
    return out, len(paths)


# -------------------------------------------------------------------------------------------- notebooks
def code_cells(nb_path: Path) -> list[str]:
    nb = json.loads(nb_path.read_text(encoding="utf-8"))
    return ["".join(c.get("source", "")) for c in nb.get("cells", []) if c.get("cell_type") == "code"]


PYTHON_CELL_MAGICS = ("%%time", "%%timeit", "%%capture", "%%prun")  # cell magics whose body is Python


def python_of(cell: str) -> str:
    """A cell's source with IPython's magics and shell lines blanked, so `ast` can read it; a cell in another
    language (`%%bash`, `%%html`, `%%writefile` ...) is blanked whole."""
    first = cell.lstrip().split("\n", 1)[0]
    if first.startswith("%%") and not first.startswith(PYTHON_CELL_MAGICS):
        return ""
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in cell.splitlines())


DEFAULT_EXP = re.compile(r"^#\|\s*default_exp\s+\S", re.M)


def check_library_notebooks(root: Path):
    out, nbs = [], sorted(p for p in (root / "nbs").glob("*.ipynb") if p.name != "index.ipynb")
    for p in nbs:
        if not any(DEFAULT_EXP.search(c) for c in code_cells(p)):
            out.append(Violation(p.relative_to(root).as_posix(), "default-exp", "no `#| default_exp` cell: every "
                                 "library notebook exports a module (prose-only pages belong in the docs)"))
    return out, len(nbs)


def definitions(tree: ast.AST):
    """(lineno, what) of every def, class and `name = lambda` in a parsed cell."""
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node.lineno, f"def {node.name}"
        elif isinstance(node, ast.ClassDef):
            yield node.lineno, f"class {node.name}"
        elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Lambda):
            names = [t.id for t in node.targets if isinstance(t, ast.Name)]
            if names:
                yield node.lineno, f"{names[0]} = lambda"


DEFINITION = re.compile(r"^\s*((?:async\s+)?def \w+|class \w+|\w+ = lambda)\b")


def check_paper_notebooks(root: Path):
    out, nbs = [], sorted((root / "nbs" / "papers").glob("*.ipynb"))
    for p in nbs:
        rel = p.relative_to(root).as_posix()
        cells = code_cells(p)
        n = sum(1 for c in cells for line in c.splitlines() if line.strip())
        if n > MAX_PAPER_LINES:
            out.append(Violation(rel, "paper-size", f"{n} non-blank code lines (at most {MAX_PAPER_LINES}): move "
                                 "the plumbing into the paper's module (cxr_nb.papers.<name>) or the paper kit"))
        for i, cell in enumerate(cells, 1):
            try:
                tree = ast.parse(python_of(cell))
            except SyntaxError:  # IPython syntax ast does not know (`x = !ls`): read the definitions line by line
                out += [Violation(rel, "paper-def", f"code cell {i}, line {n}: `{m[1]}`: a paper notebook defines "
                                  "nothing; put it in the paper's module with a test", m[1])
                        for n, line in enumerate(cell.splitlines(), 1) if (m := DEFINITION.match(line))]
                continue
            for lineno, what in definitions(tree):
                out.append(Violation(rel, "paper-def", f"code cell {i}, line {lineno}: `{what}`: a paper notebook "
                                     "defines nothing; put it in the paper's module with a test", what))
            out += [Violation(rel, v.rule, f"code cell {i}, {v.message}", v.subject)
                    for v in check_code(root, rel, tree, "__notebook__", False, layers=False)
                    if v.rule == "private-import"]
    return out, len(nbs)


# ------------------------------------------------------------------------------------------- duplicates
HEADER = re.compile(r"^(no duplicates|\d+ pairs? of places) \(")
ROW = re.compile(r"^D\d+ (\S+):\d+-\d+ ~ (\S+):\d+-\d+(.*)$")
MORE_RUNS = re.compile(r"\(\+(\d+) more runs?\)")


def extract_code(root: Path, dest: Path) -> None:
    """The code duplicates reads: the exported modules as they are, each paper notebook's code cells as one
    `.py` file under the notebook's own path (`nbs/papers/x.ipynb` -> `nbs/papers/x.py`)."""
    for p in exported_modules(root):
        rel = p.relative_to(root)
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(p, dest / rel)
    for p in sorted((root / "nbs" / "papers").glob("*.ipynb")):
        rel = p.relative_to(root).with_suffix(".py")
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        (dest / rel).write_text("\n\n".join(python_of(c) for c in code_cells(p)) + "\n", encoding="utf-8")


def back_to_source(path: str) -> str:
    return path[:-3] + ".ipynb" if path.startswith("nbs/") and path.endswith(".py") else path


def duplicate_pairs(root: Path, exe: str) -> tuple[dict[tuple[str, str], int], list[str]]:
    """{(file a, file b): runs they share} as `duplicates` lists them, and its notes (incomplete, cut, left out)."""
    with tempfile.TemporaryDirectory(prefix="cxr_nb_design_") as tmp:
        extract_code(root, Path(tmp))
        r = subprocess.run([exe, "--repo", tmp, "--most", "200", "--seconds", "120"], capture_output=True,
                           text=True, cwd=tmp)
    pairs, notes = {}, []
    out = r.stdout.splitlines()
    if not out or not (HEADER.match(out[0]) or out[0].startswith("incomplete:")):
        raise RuntimeError(f"`{exe}` is not the workplace's duplicates command (it printed "
                           f"{(out or [r.stderr.strip()[:80]])[0]!r})")
    for line in out:
        m = ROW.match(line)
        if m:
            a, b = sorted((back_to_source(m[1]), back_to_source(m[2])))
            more = MORE_RUNS.search(m[3])
            pairs[(a, b)] = pairs.get((a, b), 0) + 1 + (int(more[1]) if more else 0)
        elif line.startswith(("incomplete:", "(+")):
            notes.append(line.strip())
    if r.returncode != 0:
        notes.append(f"incomplete: duplicates exited {r.returncode}: {r.stderr.strip()[:200]}")
    return pairs, notes


def read_baseline(path: Path) -> dict[tuple[str, str], int]:
    if not path.is_file():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return {(e["a"], e["b"]): int(e["runs"]) for e in data.get("pairs", [])}


def write_baseline(path: Path, pairs: dict[tuple[str, str], int]) -> None:
    data = {"about": "Pairs of files that `duplicates` (min 6 lines) finds in the exported modules and the paper "
                     "notebooks' code, accepted as they are: scripts/check_design.py fails on a pair not listed "
                     "here or one sharing more runs. Rewrite with `python scripts/check_design.py "
                     "--update-baseline` after a deliberate change; a shorter list is the goal.",
            "pairs": [{"a": a, "b": b, "runs": n} for (a, b), n in sorted(pairs.items())]}
    rows = ",\n  ".join(json.dumps(e) for e in data["pairs"])
    text = f'{{\n "about": {json.dumps(data["about"])},\n "pairs": [\n  {rows}\n ]\n}}\n'
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")  # written whole, then renamed: never half a baseline
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def check_duplicates(pairs, baseline, baseline_rel: str):
    out = []
    for (a, b), n in sorted(pairs.items()):
        where = f"inside {a}" if a == b else f"{a} ~ {b}"
        if (a, b) not in baseline:
            out.append(Violation(a, "duplicates", f"new pair {where} ({n} run{'s' * (n > 1)} of 6+ lines; run "
                                 f"`duplicates --repo <folder>` to see them): make one piece of code serve both, "
                                 f"or, if the repetition is deliberate, `--update-baseline` ({baseline_rel})", b))
        elif n > baseline[(a, b)]:
            out.append(Violation(a, "duplicates", f"{where} now share {n} runs of 6+ lines, {baseline[(a, b)]} in "
                                 f"{baseline_rel}: make one piece of code serve both, or `--update-baseline`", b))
    return out


# ------------------------------------------------------------------------------------------------- main
def check(root: Path, baseline: Path, allowlist: dict | None, use_duplicates: bool = True):
    """(violations, allowed, summary parts) for the tree at `root`."""
    found, summary = [], []
    v, n = check_modules(root)
    found += v
    summary.append(f"{n} modules")
    v, n = check_library_notebooks(root)
    found += v
    summary.append(f"{n} library notebooks")
    v, n = check_paper_notebooks(root)
    found += v
    summary.append(f"{n} paper notebooks")
    exe = shutil.which("duplicates") if use_duplicates else None
    try:
        pairs, notes = duplicate_pairs(root, exe) if exe else (None, [])
    except (RuntimeError, OSError) as e:
        pairs, notes, exe = None, [], None
        summary.append(f"duplicates: {e}: rule skipped")
    if pairs is not None:
        try:
            rel = baseline.relative_to(root).as_posix()
        except ValueError:
            rel = str(baseline)
        found += check_duplicates(pairs, read_baseline(baseline), rel)
        summary.append(f"duplicates: {len(pairs)} pairs" + "".join(f"; {x}" for x in notes))
    elif use_duplicates and not shutil.which("duplicates"):
        summary.append("duplicates: not installed here (a workplace command, not on PyPI): rule skipped")
    allowed, violations = [], []
    allowlist = allowlist or {}
    seen = set()
    for x in found:
        key = next((k for k in ((x.rule, x.path, x.subject), (x.rule, x.path, "*")) if k in allowlist), None)
        (allowed if key else violations).append(x)
        seen.add(key)
    for key, reason in allowlist.items():
        if key not in seen and not (key[0] == "duplicates" and not exe):
            violations.append(Violation("scripts/check_design.py", "allowlist",
                                        f"entry {key} no longer matches a violation (fixed: {reason}): delete it"))
    return violations, allowed, summary


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", type=Path, default=REPO, help="the tree to check (default: this repository)")
    ap.add_argument("--baseline", type=Path, help="duplicates baseline (default: ROOT/scripts/design_baseline.json)")
    ap.add_argument("--update-baseline", action="store_true", help="write today's duplicates pairs as the baseline")
    ap.add_argument("--no-allowlist", action="store_true", help="report the allowlisted violations too")
    ap.add_argument("--no-duplicates", action="store_true", help="skip the duplicates rule")
    a = ap.parse_args(argv)
    root = a.root.resolve()
    if not (root / PACKAGE).is_dir():
        print(f"check_design: {root} has no {PACKAGE}/ folder: give the repository's root with --root", file=sys.stderr)
        return 2
    baseline = a.baseline or root / "scripts" / "design_baseline.json"
    if a.update_baseline:
        exe = shutil.which("duplicates")
        if not exe:
            print("check_design: `duplicates` is not on PATH: cannot update the baseline", file=sys.stderr)
            return 2
        try:
            pairs, notes = duplicate_pairs(root, exe)
        except (RuntimeError, OSError) as e:
            print(f"check_design: {e}: baseline not written", file=sys.stderr)
            return 2
        if any(x.startswith("incomplete:") for x in notes):
            print(f"check_design: duplicates did not finish ({'; '.join(notes)}): baseline not written", file=sys.stderr)
            return 2
        write_baseline(baseline, pairs)
        print(f"check_design: wrote {len(pairs)} pairs to {baseline}")
        return 0
    violations, allowed, summary = check(root, baseline, None if a.no_allowlist else ALLOWLIST,
                                         use_duplicates=not a.no_duplicates)
    for x in violations:
        print(x.line())
    tail = f"{len(allowed)} allowed by ALLOWLIST in scripts/check_design.py" if allowed else "allowlist empty"
    if violations:
        print(f"check_design: {len(violations)} violation(s) ({tail}; {', '.join(summary)}); the rules: "
              "CONTRIBUTING.md", file=sys.stderr)
        return 1
    print(f"check_design: passed ({', '.join(summary)}; {tail})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
