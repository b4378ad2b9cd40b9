#!/usr/bin/env bash
# Every check CI runs, in the environment on PATH (scripts/dev.sh test sets it up).
set -euo pipefail
cd "$(dirname "$0")/.."
export MPLBACKEND=Agg PYTHONHASHSEED=0

echo "== notebooks and library in sync (nbdev-export, nbdev-clean, README from nbs/index.ipynb)"
nbdev-export
nbdev-clean
python scripts/build_readme.py
if ! git diff --exit-code --stat -- nbs cxr_nb README.md; then
  echo "FAIL: nbdev-export / nbdev-clean / scripts/build_readme.py changed tracked files above;"
  echo "      run them and commit notebooks and library together." >&2
  exit 1
fi
untracked=$(git ls-files --others --exclude-standard -- cxr_nb)
if [ -n "$untracked" ]; then
  echo "FAIL: nbdev-export wrote modules that are not committed: $untracked" >&2
  exit 1
fi

echo "== nbdev-test (library notebooks; paper notebooks run below through papermill)"
nbdev-test --skip-folder-re '^(papers|[_.].*)$' --n-workers 2

echo "== pytest"
python -m pytest -q -ra "$@"
