#!/usr/bin/env bash
# One prepared GPU run of the real-data recipe (issue 9), for a bare machine: Python 3.12 with PyTorch (CUDA),
# numpy, onnx, onnxruntime; no rasterio, no install of this repo, no internet. Everything it reads is the repo
# and the pack built here beforehand (ignored by git, carried to the machine):
#
#   python -m floodsar.training.pack --synthetic data/synthetic --teacher runs/real_teacher/seed0/best.pt \
#       --etci ../shared/data/etci2021 --real ../shared/data/real --out runs/pack_full.npz
#   python -m floodsar.training.pack --subset runs/pack_full.npz --max-gen 50 --max-pseudo 50 --max-genval 20 \
#       --max-etci 120 --max-etcival 96 --out .gpu/pack.npz          # 32 MB
#   bash training/gpu_run.sh            # OUT=folder for the results (default: ./gpu_out)
#
# Parts (each under `timeout`, so one failure keeps the others' results; minutes per part: PART_MINUTES):
#   a_lite_scene   the shipped encoder (xception_lite), per-scene normalisation, gen + teacher + ETCI,
#                  started from the previous bundled model (.gpu/init_lite.pt), selected on the ETCI validation block; ONNX export
#   a_lite_fixed   the same with fixed normalisation (the normalisation decision, measured)
#   b_x65_scene    the paper's xception65 student with the a_lite_scene recipe, from scratch
#   a_lite_noetci  per-scene, WITHOUT ETCI, selected on generated validation chips (leave-ETCI-out model)
# Each part writes OUT/<part>/{metrics.json,log.jsonl,stderr.txt} (+ best.pt and model.onnx for the lite ones).
set -uo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
OUT=${OUT:-$REPO/gpu_out}
PACK=${PACK:-$REPO/.gpu/pack.npz}
PART_MINUTES=${PART_MINUTES:-0.75}
STEPS=${STEPS:-100000}
WORKERS=${WORKERS:-5}
BATCH=${BATCH:-8}
CROP=${CROP:-256}
EVAL_EVERY=${EVAL_EVERY:-100}
DEVICE=${DEVICE:-auto}
PYTHON=${PYTHON:-python}
# the previous bundled model's weights as a plain state dict (loads on any PyTorch version), from
#   python -c "import torch; from floodsar.training.recipe import initial_weights; from pathlib import Path; \
#     torch.save({'state_dict': initial_weights(Path('resources/models/floodsar_s1.pt2'))}, '.gpu/init_lite.pt')"
INIT=${INIT:-$REPO/.gpu/init_lite.pt}
mkdir -p "$OUT"
# make the checkout importable as the package `floodsar` without installing it
PKG=$(mktemp -d)
ln -s "$REPO" "$PKG/floodsar"
export PYTHONPATH="$PKG${PYTHONPATH:+:$PYTHONPATH}"
"$PYTHON" -c "import torch, sys; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), \
torch.cuda.get_device_name(0) if torch.cuda.is_available() else '', 'python', sys.version.split()[0])" \
    | tee "$OUT/environment.txt"

limit=$("$PYTHON" -c "import math; print(math.ceil(${PART_MINUTES} * 60 + 150))")  # training + validation/export
part() {  # part NAME ARGS...: one recipe run under timeout
    local name=$1; shift
    mkdir -p "$OUT/$name"
    echo "== $name $(date -u +%T)"
    timeout "$limit" "$PYTHON" -m floodsar.training.recipe --pack "$PACK" --out "$OUT/$name" --minutes "$PART_MINUTES" \
        --steps "$STEPS" --workers "$WORKERS" --batch "$BATCH" --crop "$CROP" --eval-every "$EVAL_EVERY" \
        --device "$DEVICE" "$@" 2> "$OUT/$name/stderr.txt"
    echo "   exit $? $(date -u +%T)"
    tail -n 3 "$OUT/$name/stderr.txt"
}
part a_lite_scene --encoder xception_lite --normalisation scene --init "$INIT" \
    --onnx "$OUT/a_lite_scene/model.onnx"
part a_lite_fixed --encoder xception_lite --normalisation fixed --init "$INIT"
part b_x65_scene --encoder xception65 --normalisation scene
part a_lite_noetci --encoder xception_lite --normalisation scene --init "$INIT" \
    --sources gen pseudo --valid generated --onnx "$OUT/a_lite_noetci/model.onnx"
rm -f "$OUT/b_x65_scene/best.pt"  # 160 MB: too large to bring back; its metrics say what it reached
rm -rf "$PKG"
ls -la "$OUT"/*
