#!/usr/bin/env bash
# Every check CI runs, in the environment on PATH (scripts/dev.sh test sets it up).
# Each stage runs even when an earlier one failed, so one red notebook does not hide the state of the
# rest; the failed stages are listed at the end and the exit status is non-zero if any failed.
set -uo pipefail
cd "$(dirname "$0")/.."
export MPLBACKEND=Agg PYTHONHASHSEED=0

failed=()
stage() {  # stage NAME COMMAND...: run COMMAND, remember NAME if it fails
  local name=$1; shift
  echo "== $name"
  local t0=$SECONDS
  if "$@"; then
    echo "-- $name: passed ($(( SECONDS - t0 )) s)"
  else
    echo "-- $name: FAILED (exit $?, $(( SECONDS - t0 )) s)" >&2
    failed+=("$name")
  fi
}

sync_check() {
  nbdev-export && nbdev-clean && python scripts/build_readme.py || return 1
  if ! git diff --exit-code --stat -- nbs cxr_nb README.md; then
    echo "FAIL: nbdev-export / nbdev-clean / scripts/build_readme.py changed tracked files above;" >&2
    echo "      run them and commit notebooks and library together." >&2
    return 1
  fi
  local untracked
  untracked=$(git ls-files --others --exclude-standard -- cxr_nb)
  if [ -n "$untracked" ]; then
    echo "FAIL: nbdev-export wrote modules that are not committed: $untracked" >&2
    return 1
  fi
}

design_check() {  # both run, so one does not hide the other
  local status=0
  python scripts/check_design.py || status=1
  if command -v ruff >/dev/null; then
    ruff check cxr_nb tests scripts bench nbs || status=1
  else
    echo "FAIL: ruff is not installed in this environment: pip install -e '.[dev]'" >&2; status=1
  fi
  return $status
}

stage "notebooks and library in sync (nbdev-export, nbdev-clean, README from nbs/index.ipynb)" sync_check
stage "design rules (scripts/check_design.py) and ruff" design_check
stage "nbdev-test (library notebooks; paper notebooks run below through papermill)" \
  nbdev-test --skip-folder-re '^(papers|[_.].*)$' --n-workers 2
stage "pytest" python -m pytest -q -ra "$@"
# the site after the smoke runs: tests/test_papers.py keeps each executed paper notebook in test-artifacts/papers/,
# which the paper pages show (no second run); then the site in Chromium
stage "docs site (scripts/build_docs.py: library notebooks executed, paper pages from the smoke runs above)" \
  python scripts/build_docs.py
stage "docs site in Chromium (tests/test_docs_site.py)" \
  env CXR_DOCS_SITE=_docs python -m pytest -q -ra tests/test_docs_site.py

if [ ${#failed[@]} -gt 0 ]; then
  echo "== FAILED stages (${#failed[@]} of 6):" >&2
  for s in "${failed[@]}"; do echo "   - $s" >&2; done
  exit 1
fi
echo "== all 6 stages passed"
