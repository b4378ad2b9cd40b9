"""The course layer: every solution through its check, the exercise cells of the paper notebooks, `cxr-nb course`."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cxr_nb.course import check
from cxr_nb.course.exercises import EXERCISES, exercise_cells
from cxr_nb.course.student import course_notebooks
from cxr_nb.papers.kit import PAPERS
from cxr_nb.cli import main

REPO = Path(__file__).resolve().parent.parent
NBS = REPO / "nbs"


def _solutions_notebook() -> Path:
    return NBS / "course" / "solutions.ipynb"


def test_every_solution_passes_its_check():
    "Run the solutions notebook (in a child process, as nbdev-test would): each `solved(...)` asserts its check said right."
    code = ("import json, sys; from fastcore.nbio import read_nb; from execnb.shell import CaptureShell\n"
            "sh = CaptureShell(); sh.run_all(read_nb(sys.argv[1]), exc_stop=True)\n"
            "print('SOLVED=' + json.dumps(sorted(sh.user_ns['SOLVED'])))")
    out = subprocess.run([sys.executable, "-c", code, str(_solutions_notebook())], capture_output=True, text=True,
                         cwd=NBS, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    solved = {tuple(k) for k in json.loads(out.stdout.split("SOLVED=")[-1])}
    assert solved == set(EXERCISES), sorted(set(EXERCISES) - solved)
    per_paper = [sum(p == q for q, _ in EXERCISES) for p in PAPERS]
    assert len(EXERCISES) >= 12 and all(3 <= n <= 5 for n in per_paper), per_paper


@pytest.mark.parametrize("key", sorted(EXERCISES))
def test_a_wrong_answer_is_not_right_and_says_why(key):
    paper, n = key
    ex = EXERCISES[key]
    run = dict(y=np.r_[np.zeros(10), np.ones(10)].astype(int), prob=np.linspace(0, 1, 20)) if ex.needs else {}
    for wrong in (-7.0, "zz", (-7.0, -7.0), {"P100": -7.0, "RAND": -7.0}, (-7.0, -7.0, True)):
        r = check(paper, n, wrong, **run)
        assert r.ok is False and r.message and not bool(r), (wrong, r)
    assert check(paper, n, None, **run).ok is None


def test_checks_need_their_run_values():
    with pytest.raises(TypeError, match="y, prob"):
        check("yang2021", 3, (0.5, 0.5))
    with pytest.raises(ValueError, match="no exercise 9"):
        check("hao2021", 9, 1)


@pytest.mark.parametrize("paper", sorted(PAPERS))
def test_paper_notebook_ends_with_its_exercises(paper):
    "The notebook's last cells are the library's exercise cells (scripts/append_exercises.py), and they run."
    nb = json.loads((NBS / PAPERS[paper]["notebook"]).read_text())
    want = exercise_cells(paper)
    tail = [(c["cell_type"], "".join(c["source"])) for c in nb["cells"][-len(want):]]
    assert tail == want, "run python scripts/append_exercises.py"
    # the exercise cells run as they stand (answer = None) with the run values they name
    class _Held:
        y, prob = np.r_[np.zeros(5), np.ones(5)].astype(int), np.linspace(0, 1, 10)
    ns = {"hb": _Held()}
    for kind, src in want:
        if kind == "code":
            lines = src.splitlines()
            if not lines[-1].startswith("check("):
                exec(compile(src, f"<{paper} exercises>", "exec"), ns)
                continue
            exec(compile("\n".join(lines[:-1]), f"<{paper} exercise>", "exec"), ns)
            r = eval(lines[-1], ns)
            assert r.ok is None and "answer = None" in r.message


def test_append_exercises_is_idempotent():
    out = subprocess.run([sys.executable, str(REPO / "scripts" / "append_exercises.py"), "--check"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_course_command_copies_into_a_new_folder(tmp_path, capsys):
    dest = tmp_path / "alice"
    assert main(["course", str(dest)]) == 0
    out = capsys.readouterr().out
    assert "jupyter lab" in out and str(dest) in out
    files = sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*.ipynb"))
    assert files == sorted(course_notebooks())
    assert not any("solutions" in f for f in files)
    for f in files:  # byte for byte the package's notebooks
        assert (dest / f).read_bytes() == (NBS / f).read_bytes()


def test_course_command_never_writes_into_a_folder_with_files(tmp_path, capsys):
    dest = tmp_path / "bob"
    dest.mkdir()
    (dest / "notes.txt").write_text("mine")
    assert main(["course", str(dest)]) == 2
    err = capsys.readouterr().err
    assert "not empty" in err and str(dest) in err
    assert [p.name for p in dest.iterdir()] == ["notes.txt"] and (dest / "notes.txt").read_text() == "mine"
    f = tmp_path / "a_file"
    f.write_text("x")
    assert main(["course", str(f / "sub")]) == 2
    assert f.read_text() == "x"


def test_course_command_teacher_copy_has_the_solutions(tmp_path):
    assert main(["course", str(tmp_path / "t"), "--solutions"]) == 0
    assert (tmp_path / "t" / "course" / "solutions.ipynb").is_file()
