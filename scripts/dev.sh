#!/usr/bin/env bash
# The two set-up commands of the README, on a fresh machine with Python 3.10+:
#   bash scripts/dev.sh main   # install into .venv, then run the main job on the embedded phantoms
#   bash scripts/dev.sh test   # install into .venv, then run every check CI runs
#   bash scripts/dev.sh docs   # install into .venv, then build the documentation site into _docs/
# CXR_VENV overrides the virtual environment's folder (.ci/run points it at a new one).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
venv=${CXR_VENV:-$root/.venv}
py=${PYTHON:-python3}

# pip's configuration on some machines lists local indexes that do not exist; keep its output readable.
pip_install() { "$venv/bin/python" -m pip install -q "$@" 2>&1 | { grep -v "^WARNING: Location" || true; }; }

setup() {
  if [ ! -x "$venv/bin/python" ]; then
    echo "== creating $venv"
    "$py" -m venv "$venv"
  fi
  stamp="$venv/.cxr_nb-installed"
  if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    echo "== installing cxr_nb[dev] into $venv (torch first: 2.14.1 where it is on disk)"
    # torch first so that pip does not resolve a different build through fastai.
    pip_install "torch==2.14.1" "torchvision==0.29.1" || pip_install "torch>=2.2,<2.15" "torchvision>=0.17,<0.30"
    pip_install -e ".[dev]"
    "$venv/bin/python" -m ipykernel install --sys-prefix --name python3 >/dev/null
    touch "$stamp"
  fi
  export PATH="$venv/bin:$PATH"
}

# tests/test_browser.py opens the explorers (cxr_nb.explore.widgets) in JupyterLab in Debian's Chromium, driven by
# Playwright (installed with the dev extra; it downloads no browser). Install Chromium where it is missing and
# apt-get may run (as root, or through passwordless sudo); elsewhere say that the browser test will be skipped.
ensure_chromium() {
  if [ -n "${CXR_CHROMIUM:-}" ] || command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
    return 0
  fi
  local as_root=none
  if command -v apt-get >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then as_root=""
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then as_root="sudo -n"
    fi
  fi
  if [ "$as_root" != none ]; then
    echo "== installing Chromium for the browser test (apt-get install chromium)"
    if $as_root apt-get update -qq && DEBIAN_FRONTEND=noninteractive $as_root apt-get install -y -qq --no-install-recommends chromium >/dev/null; then
      return 0
    fi
  fi
  echo "== Chromium is not installed and cannot be installed here (needs apt-get as root or passwordless sudo):"
  echo "   tests/test_browser.py will be skipped (install Debian's chromium, or set CXR_CHROMIUM to a Chromium binary)"
}

case "${1:-}" in
  main)
    setup
    shift
    exec bash scripts/main_job.sh "$@"
    ;;
  test)
    setup
    ensure_chromium
    shift
    exec bash scripts/check.sh "$@"
    ;;
  docs)
    setup
    shift
    # library notebooks executed; paper pages from test-artifacts/papers/ (smoke runs of tests/test_papers.py) or
    # runs/ (cxr-nb run); --run-papers runs the smoke presets first on a machine that has none
    MPLBACKEND=Agg PYTHONHASHSEED=0 python scripts/build_docs.py "$@"
    echo "== the site is in _docs/: python -m http.server -d _docs 8000, then open http://127.0.0.1:8000/"
    ;;
  *)
    echo "usage: bash scripts/dev.sh main|test|docs" >&2
    exit 2
    ;;
esac
