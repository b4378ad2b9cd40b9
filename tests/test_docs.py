"""scripts/build_docs.py without executing anything: the pages and nav it makes, a paper page without a smoke run
that says so, the home page's links, and the folders it refuses. The full build (library notebooks executed, paper
pages from the smoke runs) and the site in Chromium are scripts/check.sh's last two stages (tests/test_docs_site.py)."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def _build(tmp_path, *args):
    return subprocess.run([sys.executable, str(REPO / "scripts" / "build_docs.py"), "--no-execute", "--workers", "1",
                           "--work", str(tmp_path / "work"), "--out", str(tmp_path / "site"), *args],
                          capture_output=True, text=True, cwd=REPO, timeout=900)


def test_layout_build_with_no_smoke_runs(tmp_path):
    (tmp_path / "none").mkdir()
    r = _build(tmp_path, "--papers", str(tmp_path / "none"))
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    site = tmp_path / "site"
    info = json.loads((site / "build.json").read_text())
    assert info["papers"] and all(v is None for v in info["papers"].values())
    for page in ("index.html", "course.map.html", "course.exercises.html", "course.teachers_guide.html", "cli.html",
                 "papers/yang2021_pneumoconiosis.html", "search/search_index.json"):
        assert (site / page).is_file(), page
    assert not list(site.glob("*solutions*"))  # the solutions stay off the public site
    paper = (site / "papers" / "chang2022_batch_control.html").read_text()
    assert "Not executed in this build" in paper and "--run-papers" in paper
    home = (site / "index.html").read_text()
    assert 'href="course.map.html"' in home and 'href="course.teachers_guide.html"' in home


def test_refuses_folders_it_did_not_make(tmp_path):
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "mine.txt").write_text("keep")
    r = _build(tmp_path)
    assert r.returncode != 0 and "did not write" in r.stderr
    assert (tmp_path / "site" / "mine.txt").read_text() == "keep"
