#!/usr/bin/env bash
# The main job: the first paper notebook (Yang et al. 2021) on the embedded phantom data, smoke
# preset, executed headlessly into runs/yang2021/<timestamp>/ (executed notebook, HTML, metrics.json,
# params.yaml, env.json). Extra arguments go to `cxr-nb run`, e.g. `--preset paper` or `-p data /my/folder`.
set -euo pipefail
cd "$(dirname "$0")/.."
exec cxr-nb run yang2021 "$@"
