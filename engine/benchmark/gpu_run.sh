#!/usr/bin/env bash
# The GPU benchmark (python -m floodsar.engine.benchmark.gpu) on a bare machine: no install of this repo, no
# network. What it needs beyond the repository travels in two ignored folders, prepared on a machine with
# internet (see the README, "GPU"):
#   .whl/   wheels for the GPU machine's Python when it has no rasterio (rasterio + affine, attrs, certifi,
#           click, click-plugins, cligj, pyparsing), installed with --no-deps into a temporary folder;
#   .gpu/floodsar_s1_state.pt   the bundled network's weights, for a torch that cannot load the .pt2:
#           python -m floodsar.engine.benchmark.gpu --save-state .gpu/floodsar_s1_state.pt
# OUT=folder for gpu_benchmark.{json,md} (default ./gpu_out); other arguments go to the Python module
# (e.g. --budget-s 300).
set -uo pipefail
cd "$(dirname "$0")/../.."
REPO=$PWD
OUT=${OUT:-$REPO/gpu_out}
PYTHON=${PYTHON:-python}
PKG=$(mktemp -d)
trap 'rm -rf "$PKG"' EXIT
ln -s "$REPO" "$PKG/floodsar"  # the checkout importable as the package `floodsar`
export PYTHONPATH="$PKG${PYTHONPATH:+:$PYTHONPATH}"
if ! "$PYTHON" -c "import rasterio" 2>/dev/null && ls .whl/*.whl >/dev/null 2>&1; then
    "$PYTHON" -m pip install --quiet --no-deps --no-index --target "$PKG/wheels" .whl/*.whl \
        && export PYTHONPATH="$PYTHONPATH:$PKG/wheels"
fi
STATE=()
[ -f .gpu/floodsar_s1_state.pt ] && STATE=(--state .gpu/floodsar_s1_state.pt)
"$PYTHON" -m floodsar.engine.benchmark.gpu --out "$OUT" "${STATE[@]}" "$@"
