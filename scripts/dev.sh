#!/usr/bin/env bash
# The two set-up commands of the README, on a fresh machine with Python 3.10+:
#   bash scripts/dev.sh main   # install into .venv, then run the main job on the embedded phantoms
#   bash scripts/dev.sh test   # install into .venv, then run every check CI runs
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

case "${1:-}" in
  main)
    setup
    shift
    exec bash scripts/main_job.sh "$@"
    ;;
  test)
    setup
    shift
    exec bash scripts/check.sh "$@"
    ;;
  *)
    echo "usage: bash scripts/dev.sh main|test" >&2
    exit 2
    ;;
esac
