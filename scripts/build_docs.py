#!/usr/bin/env python3
"""Build the documentation site into _docs/ from the notebooks with their outputs (mkdocs-material + mkdocs-jupyter).

    python scripts/build_docs.py                  # execute the library notebooks, take the paper notebooks' smoke runs
    python scripts/build_docs.py --run-papers     # no smoke runs on this machine yet: run them first (about 20 min)
    python scripts/build_docs.py --no-execute     # the pages' layout only: library notebooks without outputs

Pages (one per notebook; a page is named by its module, e.g. `io.html`, `course.map.html`):
- the home page is nbs/index.ipynb (the README's source);
- every library notebook, executed here the way `nbdev-test` executes it (cells flagged `notest` / `slow` skipped,
  working directory nbs/), with nbdev's conventions for the page: a `show_doc` cell for every exported name that
  has none, exported and `#| hide` cells hidden, `show_doc` cells showing their output only;
- the four paper notebooks as their smoke runs executed them: the newest `<notebook>.ipynb` under the folders of
  `--papers` (default: test-artifacts/papers/, where tests/test_papers.py keeps each smoke run's notebook, then
  runs/, where `cxr-nb run` writes). No second run: a paper notebook without an executed copy is shown
  unexecuted, with a note saying so (or run first with --run-papers);
- the course pages (course map, exercises, `cxr-nb course`, teacher's guide). The solutions notebook is left out.

The site needs no network: fonts are the system's, search is mkdocs' own (lunr, in the browser), and MathJax is
not loaded (formulas show as TeX). Timing of each step is printed; the docs build's own wall time at the end.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NBS = ROOT / "nbs"
PROC = ROOT / "_proc" / "docs"      # the pages' sources (notebooks with outputs); _proc/ is ignored by git
SITE = ROOT / "_docs"               # the site (pyproject's doc_path); ignored by git

# today's flat modules -> the group of the package they belong to (after the subpackage move a module's dotted
# name gives its group directly, e.g. `phantom.render` -> phantom)
GROUPS = ["foundation", "phantom", "data", "seg", "classify", "evaluate", "explore", "papers", "deploy", "cli"]
FLAT = {"io": "foundation", "checks": "foundation", "boxes": "foundation", "vocab": "foundation", "pretrained": "foundation",
        "phantom": "phantom", "phantom_layouts": "phantom", "preprocess": "data", "datasets": "data", "splits": "data",
        "dataloaders": "data", "segment": "seg", "lung_region": "seg", "seg_archs": "seg", "classify": "classify",
        "runners": "classify", "metrics": "evaluate", "interpret": "evaluate", "plots": "evaluate", "widgets": "explore",
        "run_widgets": "explore", "parameters": "papers", "experiment": "papers", "bundle": "deploy", "reproduce": "cli", "cli": "cli"}
TITLES = {"foundation": "Foundation", "phantom": "Phantoms", "data": "Data", "seg": "Segmentation", "classify": "Classification",
          "evaluate": "Evaluation", "explore": "Explorers", "papers": "Paper kit", "deploy": "Deployment", "cli": "Command line"}
COURSE_ORDER = ["course.map", "course.exercises", "course.student", "course.teachers_guide"]
LEFT_OUT = ("course.solutions",)  # teachers get it with `cxr-nb course DIR --solutions`, not on the public site
_QUARTO_ATTRS = re.compile(r'\{target="_blank"[^}]*\}')
_DIRECTIVE = re.compile(r"^\s*#\|\s*([\w-]+)\s*:?\s*(.*?)\s*$")


def _say(msg: str):
    print(msg, flush=True)


def _src(c) -> str:
    return "".join(c["source"]) if isinstance(c["source"], list) else c["source"]


def _directives(src: str) -> dict:
    out = {}
    for line in src.splitlines():
        m = _DIRECTIVE.match(line)
        if not m:
            if line.strip(): break
            continue
        out[m.group(1)] = m.group(2)
    return out


def _page_name(path: Path, nb: dict) -> str:
    "A notebook's page name: its default_exp (`course.map`), else its folder and file stem (nbs/course/teachers_guide.ipynb: `course.teachers_guide`)."
    for c in nb["cells"]:
        if c["cell_type"] == "code":
            d = _directives(_src(c))
            if "default_exp" in d: return d["default_exp"].split()[0]
    stem = re.sub(r"^\d+[a-z]?_", "", path.stem)
    return f"{path.parent.name}.{stem}" if path.parent != NBS else stem  # nbs/course/x.ipynb -> course.x


def _group(name: str) -> str:
    if name.startswith("course."): return "course"
    head = name.split(".")[0]
    return head if "." in name and head in TITLES else FLAT.get(name, "foundation")


def _title(nb: dict, fallback: str) -> str:
    for c in nb["cells"]:
        if c["cell_type"] == "markdown":
            m = re.search(r"^#\s+(.+?)\s*$", _src(c), re.M)
            if m: return m.group(1)
    return fallback


def _flags() -> list:
    import tomllib
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return cfg.get("tool", {}).get("nbdev", {}).get("tst_flags", "notest").split()


# ---------------------------------------------------------------- library notebooks: executed as nbdev-test does
def _execute(job) -> tuple:
    "Execute one library notebook (in a worker process); returns (name, notebook dict, seconds, error or None)."
    path, flags, execute = job
    from fastcore.nbio import read_nb
    from nbdev.process import NBProcessor
    from nbdev.processors import add_show_docs
    t0 = time.time()
    nb = read_nb(path)
    NBProcessor(nb=nb, procs=[add_show_docs], rm_directives=False).process()  # nbdev's: show_doc for every export
    err = None
    if execute:
        from execnb.shell import CaptureShell
        from nbdev.test import _skip_cell  # the skip rule of nbdev-test (tst_flags), so the same cells run
        os.environ["IN_TEST"] = "1"
        os.chdir(path.parent)
        sh = CaptureShell(path)
        try:
            sh.run_all(nb, exc_stop=True, preproc=_skip_cell(nb, flags, None), cell_timeout=600)
        except Exception as e:  # a failing cell fails the build, named
            err = f"{path.name}: {type(e).__name__}: {e}"
    from fastcore.nbio import nb2str
    return path, json.loads(nb2str(nb)), time.time() - t0, err


def _for_page(nb: dict) -> dict:
    "nbdev's page conventions: hidden and exported cells go, show_doc cells show their output only, directives go."
    cells = []
    for c in nb["cells"]:
        tags = c.get("metadata", {}).get("tags", [])
        c = dict(c, metadata={"tags": list(tags)} if tags else {})  # execnb's timing metadata is no valid nbformat
        src = _src(c)
        if c["cell_type"] == "code":
            d = _directives(src)
            if {"hide", "default_exp", "export", "exporti", "exports"} & set(d) or d.get("include") == "false":
                if "exports" not in d: continue
            if re.match(r"\s*show_doc\(", "\n".join(l for l in src.splitlines() if not _DIRECTIVE.match(l))) or d.get("echo") == "false":
                c["metadata"] = {"tags": list(tags) + ["remove_input"]}
            if d.get("output") == "false": c["outputs"] = []
            for o in c.get("outputs", []):  # show_doc writes Quarto's link attributes, which MkDocs would print
                md = o.get("data", {}).get("text/markdown")
                if md is not None:
                    o["data"]["text/markdown"] = _QUARTO_ATTRS.sub("", "".join(md) if isinstance(md, list) else md)
            c["source"] = "\n".join(l for l in src.splitlines() if not _DIRECTIVE.match(l)).strip("\n")
            if not c["source"] and not c.get("outputs"): continue
        cells.append(c)
    return dict(nb, cells=cells)


def _note_cell(text: str) -> dict:
    return {"cell_type": "markdown", "id": "docsnote", "metadata": {}, "source": text}


def _write_nb(nb: dict, path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    nb = dict(nb, metadata={k: v for k, v in nb.get("metadata", {}).items() if k in ("kernelspec", "language_info")})
    nb.setdefault("nbformat", 4); nb.setdefault("nbformat_minor", 5)
    for c in nb["cells"]:
        if c["cell_type"] == "code":
            c.setdefault("outputs", []); c.setdefault("execution_count", None)
    path.write_text(json.dumps(nb, ensure_ascii=False, indent=1), encoding="utf-8")


# ---------------------------------------------------------------- paper notebooks: from the smoke runs
def _executed_paper(stem: str, roots: list) -> Path | None:
    found = [p for r in roots if r.is_dir() for p in r.rglob(f"{stem}.ipynb")]
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


def _paper_page(src: Path, executed: Path | None) -> tuple:
    nb = json.loads((executed or src).read_text(encoding="utf-8"))
    if executed is not None:
        env = executed.parent / "env.json"
        e = json.loads(env.read_text()) if env.is_file() else {}
        bits = [f"preset `{e.get('preset', 'smoke')}`"] + ([f"{e['minutes']} min on {e.get('cpus', '?')} CPUs ({e.get('device', 'cpu')})"]
                                                          if "minutes" in e else []) + ([f"commit `{str(e['git_commit'])[:12]}`"] if e.get("git_commit") else [])
        note = (f"!!! note \"Executed by a smoke run\"\n    This page is the notebook as `cxr-nb run` executed it ({', '.join(bits)}), "
                f"started {e.get('started', '?')}. Rerun it yourself with `cxr-nb run {e.get('paper', '')}`.")
    else:
        note = ("!!! warning \"Not executed in this build\"\n    No executed copy of this notebook was found (the smoke runs of "
                "`tests/test_papers.py` keep theirs in `test-artifacts/papers/`, `cxr-nb run` writes to `runs/`), so the page shows "
                "the code without outputs. `python scripts/build_docs.py --run-papers` runs the smoke presets first.")
    cells = [c for c in nb["cells"] if "injected-parameters" not in c.get("metadata", {}).get("tags", [])]
    return dict(nb, cells=cells[:1] + [_note_cell(note)] + cells[1:]), executed is not None


# ---------------------------------------------------------------- home page and links
def _home(index_nb: dict, pages: dict) -> dict:
    "nbs/index.ipynb with links to notebooks (`nbs/x.ipynb`, `x.ipynb`) pointed at their pages."
    def fix(m):
        target = m.group(2)
        rel = re.sub(r"^(\./)?(nbs/)?", "", target)
        return f"]({pages[rel][:-len('.ipynb')]}.html)" if rel in pages else m.group(0)  # the page's address
    cells = []
    for c in index_nb["cells"]:
        c = dict(c)
        if c["cell_type"] == "markdown": c["source"] = re.sub(r"\]\((\s*)([^)\s]+\.ipynb)\)", fix, _src(c))
        cells.append(c)
    return dict(index_nb, cells=cells)


def _mkdocs_config(nav: list, out: Path, proc: Path) -> Path:
    cfg = proc.parent / f"{proc.name}.mkdocs.yml"
    import yaml
    text = yaml.safe_dump({"INHERIT": str(ROOT / "mkdocs.yml"), "docs_dir": str(proc), "site_dir": str(out), "nav": nav},
                          sort_keys=False, allow_unicode=True)
    cfg.write_text(text, encoding="utf-8")
    return cfg


def build(out: Path = SITE, papers: list | None = None, run_papers: bool = False, execute: bool = True, workers: int = 2,
          proc: Path = PROC) -> dict:
    t_all = time.time()
    # the builder only ever replaces folders it made: a non-empty --work or --out without its mark is refused
    for d, mark in ((proc, ".cxr_nb_docs"), (out, "build.json")):
        if d.is_file() or (d.is_dir() and any(d.iterdir()) and not (d / mark).is_file()):
            raise SystemExit(f"docs: {d} holds files this builder did not write (no {mark}); pass a new or empty folder")
    if proc.exists(): shutil.rmtree(proc)  # the builder's own folder, made fresh each time
    proc.mkdir(parents=True)
    (proc / ".cxr_nb_docs").write_text("made by scripts/build_docs.py; replaced by each build\n")
    (proc / "build.json").write_text('{"status": "building"}\n')  # mkdocs copies it: the site's mark, even half-built
    (proc / "assets").mkdir()
    shutil.copytree(ROOT / "docs_assets", proc / "assets", dirs_exist_ok=True)
    roots = [Path(p).resolve() for p in (papers or [ROOT / "test-artifacts" / "papers", ROOT / "runs"])]
    if run_papers:
        t0 = time.time()
        runs = proc.parent / "docs_runs"
        _say(f"== running the paper notebooks' smoke presets into {runs} (cxr-nb run --all)")
        subprocess.run([sys.executable, "-c", "import sys; from cxr_nb.cli import main; sys.exit(main(sys.argv[1:]))",
                        "run", "--all", "--out", str(runs)], check=False)
        roots.insert(0, runs)
        _say(f"-- smoke runs: {time.time() - t0:.0f} s")

    # library and course notebooks
    lib = sorted(p for p in NBS.glob("*.ipynb") if p.name != "index.ipynb") + sorted((NBS / "course").glob("*.ipynb"))
    jobs = []
    for p in lib:
        nb = json.loads(p.read_text(encoding="utf-8"))
        name = _page_name(p, nb)
        if name in LEFT_OUT: continue
        jobs.append((p, _flags(), execute))
    t0 = time.time()
    _say(f"== {'executing' if execute else 'reading (no execution)'} {len(jobs)} library and course notebooks, {workers} workers")
    results, errors, seconds = {}, [], {}
    with ProcessPoolExecutor(max_workers=max(1, workers)) as pool:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import build_docs  # workers find `_execute` by module name: IPython replaces their __main__
        for path, nb, secs, err in pool.map(build_docs._execute, jobs):
            name = _page_name(path, json.loads(path.read_text(encoding="utf-8")))
            results[name] = (path, nb)
            seconds[name] = round(secs, 1)
            _say(f"   {path.name}: {secs:.1f} s" + (f"  FAILED: {err}" if err else ""))
            if err: errors.append(err)
    if errors:
        raise SystemExit("docs: library notebooks failed to execute:\n  " + "\n  ".join(errors))
    _say(f"-- library notebooks: {time.time() - t0:.0f} s")

    pages, nav_groups, course = {}, {}, {}
    for name, (path, nb) in results.items():
        page = f"{name}.ipynb"
        nb = _for_page(nb)
        if not execute:
            nb["cells"].insert(1, _note_cell("!!! warning \"Not executed in this build\"\n    Built with `--no-execute`: no outputs, "
                                             "so no API reference from `show_doc`."))
        _write_nb(nb, proc / page)
        pages[path.relative_to(NBS).as_posix()] = page
        entry = {_title(nb, name): page}
        if name.startswith("course."): course[name] = entry
        else: nav_groups.setdefault(_group(name), []).append(entry)

    # paper notebooks
    from cxr_nb.papers.kit import PAPERS
    paper_nav, executed = [], {}
    for key, e in PAPERS.items():
        src = NBS / e["notebook"]
        found = _executed_paper(src.stem, roots)
        nb, ok = _paper_page(src, found)
        page = f"papers/{src.stem}.ipynb"
        _write_nb(nb, proc / page)
        pages[f"papers/{src.name}"] = page
        executed[key] = str(found) if found else None
        paper_nav.append({_title(nb, key): page})
        _say(f"   paper {key}: {'from ' + str(found) if found else 'NOT EXECUTED (no smoke run found)'}")

    _write_nb(_home(json.loads((NBS / "index.ipynb").read_text(encoding="utf-8")), pages), proc / "index.ipynb")
    nav = [{"Home": "index.ipynb"},
           {"Course": [course[n] for n in COURSE_ORDER if n in course] + [v for n, v in course.items() if n not in COURSE_ORDER]},
           {"Papers": paper_nav},
           {"Library": [{TITLES[g]: nav_groups[g]} for g in GROUPS if g in nav_groups]}]
    t0 = time.time()
    cfg = _mkdocs_config(nav, out, proc)
    _say(f"== mkdocs build -> {out}")
    subprocess.run([sys.executable, "-m", "mkdocs", "build", "--clean", "-q", "-f", str(cfg)], check=True, cwd=ROOT,
                   env=dict(os.environ, NO_MKDOCS_2_WARNING="1"))
    _say(f"-- mkdocs: {time.time() - t0:.0f} s")
    info = dict(pages=len(pages) + 1, executed_library=execute, seconds=seconds, papers=executed,
                wall_seconds=round(time.time() - t_all, 1))
    (out / "build.json").write_text(json.dumps(info, indent=1))
    _say(f"docs: {info['pages']} pages in {out} ({sum(v is not None for v in executed.values())} of {len(executed)} "
         f"paper notebooks executed by smoke runs); build wall time {info['wall_seconds']} s")
    return info


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=str(SITE), help="the site's folder (default _docs/)")
    ap.add_argument("--papers", action="append", default=None, metavar="DIR",
                    help="a folder to search for executed paper notebooks (repeatable; default test-artifacts/papers/ and runs/)")
    ap.add_argument("--run-papers", action="store_true", help="run `cxr-nb run --all` (smoke) first, for a machine without smoke runs")
    ap.add_argument("--no-execute", action="store_true", help="do not execute the library notebooks (layout only)")
    ap.add_argument("--workers", type=int, default=2, help="processes executing library notebooks (default 2)")
    ap.add_argument("--work", default=str(PROC), help="the folder for the pages' sources (default _proc/docs/; made afresh)")
    a = ap.parse_args(argv)
    build(Path(a.out).resolve(), a.papers, a.run_papers, not a.no_execute, a.workers, Path(a.work).resolve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
