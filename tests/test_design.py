"""scripts/check_design.py (issue 23): each rule reported on a small synthetic tree, one clear line per violation
naming the file and the rule; the allowlist and the duplicates baseline; and the repository itself passing."""
import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "scripts" / "check_design.py"
_spec = importlib.util.spec_from_file_location("check_design", SCRIPT)
cd = importlib.util.module_from_spec(_spec)
sys.modules["check_design"] = cd  # dataclasses look their module up by name
_spec.loader.exec_module(cd)

HAS_DUPLICATES = shutil.which("duplicates") is not None


def notebook(path: Path, *cells: str) -> Path:
    "A minimal .ipynb of code cells (a cell starting with '#md ' is markdown)."
    def cell(src):
        if src.startswith("#md "):
            return {"cell_type": "markdown", "metadata": {}, "source": src[4:]}
        return {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": src}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"cells": [cell(c) for c in cells], "metadata": {}, "nbformat": 4,
                                "nbformat_minor": 5}))
    return path


def write(root: Path, rel: str, text: str) -> Path:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)
    return p


@pytest.fixture
def tree(tmp_path):
    "A clean tree in the package's shape: foundation modules, two layers, a library and a paper notebook."
    root = tmp_path / "repo"
    write(root, "cxr_nb/__init__.py", '"""pkg"""\n__version__ = "0"\n')
    write(root, "cxr_nb/_modidx.py", "d = {}\n" * 700)  # generated: never counted
    write(root, "cxr_nb/checks.py", "def check_int(v):\n    return v\n")
    write(root, "cxr_nb/io.py", "from .checks import check_int\n_PRIVATE = 1\n\ndef read(p):\n    return check_int(p)\n")
    write(root, "cxr_nb/data/__init__.py", '"""data"""\n')
    write(root, "cxr_nb/data/datasets.py", "from ..io import read\nfrom ..checks import check_int\n\n"
                                           "def load(p):\n    return read(p)\n")
    write(root, "cxr_nb/data/splits.py", "from .datasets import load\n")  # inside a layer: allowed
    write(root, "cxr_nb/papers/__init__.py", '"""papers"""\n')
    write(root, "cxr_nb/papers/kit.py", "import cxr_nb\nfrom cxr_nb.data.datasets import load\n"
                                        "from cxr_nb import io as cio\nX = cio.read\nV = cxr_nb.__version__\n")
    notebook(root / "nbs/00_io.ipynb", "#| default_exp io", "#| export\nx = 1")
    notebook(root / "nbs/index.ipynb", "#md # index")  # the README's source: no default_exp needed
    notebook(root / "nbs/papers/p2020.ipynb", "#md # A paper", "%matplotlib inline\nfrom cxr_nb.papers.kit import X",
             "!ls\nresult = X(1)\nprint(sorted([3, 1], key=lambda v: -v))")
    return root


def run(root: Path, *args, path_env=None):
    env = None
    if path_env is not None:
        import os
        env = {**os.environ, "PATH": path_env}
    return subprocess.run([sys.executable, str(SCRIPT), "--root", str(root), "--no-allowlist", *args],
                          capture_output=True, text=True, env=env)


def lines(r) -> list:
    return [line for line in r.stdout.splitlines() if not line.startswith("check_design:")]


def dup_lines(r) -> list:
    return [line for line in lines(r) if ": duplicates: " in line]


def found(root: Path) -> list:
    "(path, rule, subject) of every violation in `root`, without the allowlist or duplicates."
    v, _, _ = cd.check(root, root / "scripts" / "design_baseline.json", None, use_duplicates=False)
    return [(x.path, x.rule, x.subject) for x in v]


def test_a_clean_tree_passes_with_a_one_line_summary(tree):
    r = run(tree)
    assert r.returncode == 0, r.stdout + r.stderr
    assert lines(r) == []
    (summary,) = r.stdout.splitlines()
    assert summary.startswith("check_design: passed (") and "8 modules, 1 library notebooks, 1 paper notebooks" in summary


def test_a_module_over_600_lines(tree):
    write(tree, "cxr_nb/data/datasets.py", "x = 1\n" * 600)
    assert found(tree) == []  # 600 is allowed
    write(tree, "cxr_nb/data/datasets.py", "x = 1\n" * 601)
    r = run(tree, "--no-duplicates")
    assert r.returncode == 1
    assert lines(r) == ["cxr_nb/data/datasets.py: module-size: 601 lines (at most 600): split it by concept into "
                        "modules of the same layer"]
    assert "1 violation(s)" in r.stderr


def test_private_imports_in_every_spelling(tree):
    write(tree, "cxr_nb/data/splits.py", "from .datasets import load\nfrom ..io import _PRIVATE\n"
                                         "from cxr_nb.io import (\n    read,\n    _other,\n)\n"
                                         "from cxr_nb import io as cio\n\ndef f():\n    from cxr_nb.checks import _late\n"
                                         "    return cio._helper(1)\n"
                                         "import cxr_nb.data.datasets\nZ = cxr_nb.data.datasets._cache\n")
    assert sorted(found(tree)) == [("cxr_nb/data/splits.py", "private-import", n)
                                   for n in ("_PRIVATE", "_cache", "_helper", "_late", "_other")]
    r = run(tree, "--no-duplicates")
    assert "cxr_nb/data/splits.py: private-import: line 2 imports `_PRIVATE` from `cxr_nb.io`" in r.stdout
    assert "line 5 imports `_other` from `cxr_nb.io`" in r.stdout  # the name's own line in a multi-line import
    assert "line 11 uses `_helper` of `cxr_nb.io`" in r.stdout


def test_own_private_names_and_dunders_are_not_private_imports(tree):
    write(tree, "cxr_nb/data/datasets.py", "import cxr_nb.data.datasets as _me\nfrom cxr_nb import __version__\n"
                                           "_x = 1\nY = _me._x\n")
    assert found(tree) == []


def test_a_paper_notebook_importing_a_private_name(tree):
    notebook(tree / "nbs/papers/p2020.ipynb", "from cxr_nb.io import read, _PRIVATE")
    assert found(tree) == [("nbs/papers/p2020.ipynb", "private-import", "_PRIVATE")]


def test_upward_imports(tree):
    write(tree, "cxr_nb/io.py", "from .checks import check_int\nfrom .data.datasets import load\n")  # foundation -> data
    write(tree, "cxr_nb/data/splits.py", "def f():\n    from cxr_nb.papers import kit\n    return kit\n")  # local too
    r = run(tree, "--no-duplicates")
    assert r.returncode == 1
    assert lines(r) == [
        "cxr_nb/data/splits.py: layer-order: line 2 imports `cxr_nb.papers.kit` (layer papers) from layer data: a "
        "module imports only from its own layer or those before it",
        "cxr_nb/io.py: layer-order: line 2 imports `cxr_nb.data.datasets` (layer data) from layer foundation (io): a "
        "module imports only from its own layer or those before it"]


def test_the_foundation_order(tree):
    write(tree, "cxr_nb/checks.py", "from .io import read\n")  # checks is the bottom: io comes after it
    write(tree, "cxr_nb/vocab.py", "from .checks import check_int\n")  # allowed: checks < vocab
    write(tree, "cxr_nb/boxes.py", "from . import vocab, checks\n")  # allowed
    assert found(tree) == [("cxr_nb/checks.py", "layer-order", "cxr_nb.io")]


def test_a_module_in_no_layer(tree):
    write(tree, "cxr_nb/utils/__init__.py", "")
    assert found(tree) == [("cxr_nb/utils/__init__.py", "layer-order", "cxr_nb.utils")]


def test_a_library_notebook_without_default_exp(tree):
    notebook(tree / "nbs/05_notes.ipynb", "#md # notes", "x = 1  # default_exp in a comment does not count")
    r = run(tree, "--no-duplicates")
    assert lines(r) == ["nbs/05_notes.ipynb: default-exp: no `#| default_exp` cell: every library notebook exports "
                        "a module (prose-only pages belong in the docs)"]


def test_a_paper_notebook_with_a_def_a_class_and_a_named_lambda(tree):
    notebook(tree / "nbs/papers/p2020.ipynb", "%time x = 1\ndef helper(a):\n    return a",
             "class Table:\n    pass\nfit = lambda learn: learn.fit(1)")
    r = run(tree, "--no-duplicates")
    assert r.returncode == 1
    assert lines(r) == [
        "nbs/papers/p2020.ipynb: paper-def: code cell 1, line 2: `def helper`: a paper notebook defines nothing; "
        "put it in the paper's module with a test",
        "nbs/papers/p2020.ipynb: paper-def: code cell 2, line 1: `class Table`: a paper notebook defines nothing; "
        "put it in the paper's module with a test",
        "nbs/papers/p2020.ipynb: paper-def: code cell 2, line 3: `fit = lambda`: a paper notebook defines nothing; "
        "put it in the paper's module with a test"]


def test_magics_shell_lines_and_other_languages_are_read_as_ipython_does(tree):
    notebook(tree / "nbs/papers/p2020.ipynb", "%%bash\ndef not_python() { echo; }", "%%time\ndef timed():\n    pass",
             "files = !ls\ndef after_shell():\n    pass")
    assert sorted(found(tree)) == [("nbs/papers/p2020.ipynb", "paper-def", "def after_shell"),
                                   ("nbs/papers/p2020.ipynb", "paper-def", "def timed")]


def test_a_paper_notebook_over_200_code_lines(tree):
    notebook(tree / "nbs/papers/p2020.ipynb", "x = 1\n\n" * 100, "#md " + "prose\n" * 50, "y = 2\n" * 100)
    assert found(tree) == []  # 200 non-blank code lines; blank lines and markdown do not count
    notebook(tree / "nbs/papers/p2020.ipynb", "x = 1\n\n" * 100, "y = 2\n" * 101)
    assert found(tree) == [("nbs/papers/p2020.ipynb", "paper-size", "")]


def test_the_allowlist_hides_a_listed_violation_and_reports_a_stale_entry(tree):
    write(tree, "cxr_nb/data/splits.py", "from ..io import _PRIVATE\n")
    allow = {("private-import", "cxr_nb/data/splits.py", "_PRIVATE"): "being fixed",
             ("paper-def", "nbs/papers/p2020.ipynb", "*"): "fixed already"}
    v, allowed, _ = cd.check(tree, tree / "none.json", allow, use_duplicates=False)
    assert [(x.rule, x.subject) for x in allowed] == [("private-import", "_PRIVATE")]
    assert [x.line() for x in v] == ["scripts/check_design.py: allowlist: entry ('paper-def', "
                                     "'nbs/papers/p2020.ipynb', '*') no longer matches a violation (fixed: fixed "
                                     "already): delete it"]


def test_every_allowlist_entry_has_a_reason():
    assert all(isinstance(r, str) and r.strip() for r in cd.ALLOWLIST.values())


SHARED = ("def shared_mean(frame, column, weight):\n    values = frame[column].dropna()\n"
          "    weights = frame.loc[values.index, weight]\n    total = (values * weights).sum()\n"
          "    count = max(weights.sum(), 1)\n    result = total / count\n    print(column, result)\n"
          "    return result\n")


@pytest.mark.skipif(not HAS_DUPLICATES, reason="the `duplicates` command is not installed here")
def test_duplicates_reports_a_new_pair_until_it_is_in_the_baseline(tree):
    write(tree, "cxr_nb/data/datasets.py", SHARED)
    notebook(tree / "nbs/papers/p2020.ipynb", SHARED)  # the paper notebook's code is read too
    r = run(tree)
    assert r.returncode == 1
    (line,) = dup_lines(r)  # (and the notebook's `def` as paper-def)
    assert line.startswith("cxr_nb/data/datasets.py: duplicates: new pair cxr_nb/data/datasets.py ~ "
                           "nbs/papers/p2020.ipynb (")
    u = subprocess.run([sys.executable, str(SCRIPT), "--root", str(tree), "--update-baseline"], capture_output=True,
                       text=True)
    assert u.returncode == 0, u.stdout + u.stderr
    base = json.loads((tree / "scripts/design_baseline.json").read_text())
    assert [(p["a"], p["b"]) for p in base["pairs"]] == [("cxr_nb/data/datasets.py", "nbs/papers/p2020.ipynb")]
    assert dup_lines(run(tree)) == []
    write(tree, "cxr_nb/papers/kit.py", SHARED)  # a third copy: two new pairs
    r = run(tree)
    assert r.returncode == 1
    assert sorted(line.split(": ")[0] for line in dup_lines(r)) == ["cxr_nb/data/datasets.py", "cxr_nb/papers/kit.py"]


def test_without_duplicates_the_rule_is_skipped_and_said(tree, tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    r = run(tree, path_env=str(bin_dir))  # a PATH without `duplicates`
    assert r.returncode == 0, r.stdout + r.stderr
    assert "duplicates: not installed here" in r.stdout and "rule skipped" in r.stdout


def test_another_duplicates_on_path_is_not_trusted(tree, tmp_path):
    bin_dir = tmp_path / "bin"
    fake = write(bin_dir, "duplicates", "#!/bin/sh\necho 'found 3 identical files'\n")  # e.g. PyPI's unrelated one
    fake.chmod(0o755)
    r = run(tree, path_env=str(bin_dir))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "is not the workplace's duplicates command" in r.stdout and "rule skipped" in r.stdout


def test_bad_root_is_refused(tmp_path):
    r = run(tmp_path)
    assert r.returncode == 2 and "has no cxr_nb/ folder" in r.stderr


def test_the_repository_passes_with_its_allowlist():
    r = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 0, r.stdout + r.stderr
