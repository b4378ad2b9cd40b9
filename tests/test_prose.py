"""A paper notebook's prose holds published numbers and settings only: every decimal number in its markdown is in
that paper's `PAPERS` entry (published tables, presets, sources, assumptions) or on the commented allow-list below.
A result of a run belongs in a code cell's output, with its CI."""
import json
import re
from pathlib import Path

import pytest

from cxr_nb.papers.kit import PAPERS, notebooks_dir, paper_parameters

_DECIMAL = re.compile(r"(?<![\w.])\d+\.\d+(?![\w.]*\d)")  # 0.893, 92.46, 1.5 (not a version like 1.2.0)

# Numbers a notebook may print in prose although no PAPERS entry holds them, each with the reason.
ALLOWED = {
    "all": {
        "1.5",  # ILO sizes: p < 1.5 mm, q 1.5-3 mm; and about 1.5 mm per pixel at 256 px (DESIGN.md domain notes)
        "0.5",  # a probability threshold, half the cross-entropy (alpha 0.5), DenseNet-BC's default compression
    },
    "hao2021": {
        "0.036",  # 1/28: the step of recall on 28 positive test images (arithmetic on the paper's test set)
        "0.37", "0.76",  # exact binomial 95 % interval of 16/28, computed from the paper's own counts (Step 5)
        "3.96",  # 452/114: the inverse-frequency ratio on the paper's training split (arithmetic on 2.1)
    },
    "yang2021": set(),
    "fang2021": set(),
    "chang2022": set(),
}


def _numbers(obj) -> set[str]:
    "Every decimal number written anywhere in a PAPERS entry (values and the text of its sources), normalised."
    out = set()
    if isinstance(obj, dict):
        for k, v in obj.items(): out |= _numbers(k) | _numbers(v)
    elif isinstance(obj, (list, tuple, set)):
        for v in obj: out |= _numbers(v)
    elif isinstance(obj, bool) or obj is None:
        pass
    elif isinstance(obj, (int, float)):
        out.add(_norm(repr(float(obj))))
    elif isinstance(obj, str):
        out |= {_norm(m) for m in _DECIMAL.findall(obj.replace(",", ""))}
    return out


def _norm(s: str) -> str:
    "A decimal's value as text, so 0.50, .5 and 0.5 agree; percentages are compared both as written and / 100."
    return repr(float(s))


def _allowed(paper: str) -> set[str]:
    "The published numbers and settings of `paper`: its PAPERS entry, its notebook's parameter defaults, the allow-list."
    base = _numbers(PAPERS[paper]) | _numbers([p.default for p in paper_parameters(paper).values()])
    base |= {_norm(repr(float(x) * 100)) for x in base} | {_norm(repr(round(float(x) / 100, 6))) for x in base}
    return base | {_norm(x) for x in ALLOWED["all"] | ALLOWED[paper]}


def _markdown(paper: str) -> list[tuple[int, str]]:
    nb = json.loads((notebooks_dir() / PAPERS[paper]["notebook"]).read_text())
    return [(i, "".join(c["source"])) for i, c in enumerate(nb["cells"]) if c["cell_type"] == "markdown"]


def _strip_code(text: str) -> str:
    "Inline code, maths, DOIs and links name parameters, formulas and papers (`lr=5e-5`, $k = x \\cdot 6 / 100$), not results."
    return re.sub(r"`[^`]*`|\$[^$]*\$|doi:\S+|https?://\S+", " ", text)


@pytest.mark.parametrize("paper", sorted(PAPERS))
def test_prose_numbers_are_published_or_settings(paper):
    allowed = _allowed(paper)
    bad = []
    for i, text in _markdown(paper):
        for m in _DECIMAL.finditer(_strip_code(text)):
            value = m.group().replace(",", "")
            if _norm(value) not in allowed and _norm(repr(round(float(value) / 100, 6))) not in allowed:
                line = text[max(0, m.start() - 60):m.end() + 20].replace("\n", " ")
                bad.append(f"cell {i}: {value!r} in '...{line}...'")
    assert not bad, (f"{paper}: decimal numbers in the prose that are neither published (PAPERS['{paper}']) nor on the "
                     "allow-list of tests/test_prose.py; print a run's result from a code cell instead:\n  " + "\n  ".join(bad))


def test_prose_checker_catches_a_run_result():
    "The checker itself: a made-up result is caught, a published number and a setting pass."
    allowed = _allowed("hao2021")
    assert _norm("0.893") in allowed  # Table 2
    assert _norm("0.8123") not in allowed
    assert [m.group() for m in _DECIMAL.finditer(_strip_code("AUC about 0.72 in our runs, `lr=0.5`, PyTorch 1.2.0"))] == ["0.72"]
