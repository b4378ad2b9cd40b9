#!/usr/bin/env python
"""Write README.md from nbs/index.ipynb (the README's source, as in nbdev).

nbdev-readme needs Quarto, which this project's machines cannot download; this does the part we
use: markdown cells verbatim, code cells as fenced blocks (``#| hide`` cells left out).
Run from anywhere: ``python scripts/build_readme.py``.
"""
import json
from pathlib import Path

root = Path(__file__).resolve().parent.parent
nb = json.loads((root / "nbs" / "index.ipynb").read_text())
parts = ["<!-- Generated from nbs/index.ipynb by scripts/build_readme.py: edit the notebook. -->"]
for cell in nb["cells"]:
    src = "".join(cell["source"]).strip()
    if not src or src.startswith("#| hide") or src.startswith("#|hide"):
        continue
    if cell["cell_type"] == "markdown":
        parts.append(src)
    elif cell["cell_type"] == "code":
        lang = "bash" if src.startswith("!") else "python"
        parts.append(f"```{lang}\n{src.lstrip('!')}\n```")
(root / "README.md").write_text("\n\n".join(parts) + "\n")
