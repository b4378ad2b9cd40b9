#!/usr/bin/env bash
# The main job on the embedded phantom data. Until the first paper notebook lands, it executes
# the library notebooks headlessly and writes their HTML (figures inline) to runs/notebooks/.
set -euo pipefail
cd "$(dirname "$0")/.."
export MPLBACKEND=Agg
out=runs/notebooks
mkdir -p "$out"
for nb in nbs/0*.ipynb; do
  name=$(basename "$nb" .ipynb)
  echo "== $name"
  papermill --cwd nbs -k python3 "$nb" "$out/$name.ipynb" >/dev/null
  jupyter nbconvert --to html "$out/$name.ipynb" --output-dir "$out" >/dev/null
done
echo "executed notebooks and HTML in $out/"
