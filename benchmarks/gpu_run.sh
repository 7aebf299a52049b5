#!/usr/bin/env bash
# Run the scale-out benchmarks on a GPU machine (the same scripts as on CPU, JSON results).
#
#   benchmarks/gpu_run.sh [many|growth|plain|sbc|all]      (default: all)
#
# The machine's python needs jax (with its CUDA plugin) and numpyro; bayeslaw itself is used from
# this checkout (PYTHONPATH), not installed. GPU images often lack ArviZ and h5netcdf: when
# `import arviz, h5netcdf` fails, the script installs them from wheels in $WHEELS (default
# ./.whl, git-ignored; fill it on a machine with network with
#   pip download --no-deps -d .whl arviz==0.23.4 h5netcdf xarray-einstats platformdirs
# and carry that folder along), with --no-index, so nothing is fetched from the network.
# Results go to benchmarks/results/*_gpu.json, or straight to $OUT when it is set (the device
# tool's output folder), written after every measured step so a run cut short keeps its numbers.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
WHEELS=${WHEELS:-.whl}
PART=${1:-all}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
export BAYESLAW_CACHE_DIR=${BAYESLAW_CACHE_DIR:-/tmp/bayeslaw-cache}
RESULTS=${OUT:-benchmarks/results}
mkdir -p "$RESULTS"

if ! "$PY" -c "import arviz, h5netcdf" 2>/dev/null; then
  if [ -d "$WHEELS" ]; then
    echo "installing ArviZ/h5netcdf from $WHEELS (no network)"
    "$PY" -m pip install -q --no-index --find-links "$WHEELS" arviz h5netcdf
  else
    echo "ArviZ/h5netcdf missing and no wheels in $WHEELS: carry them (see the header)" >&2
    exit 2
  fi
fi
"$PY" - <<'EOF'
import jax, numpyro
print("jax", jax.__version__, "numpyro", numpyro.__version__, "backend", jax.default_backend(),
      "devices", jax.devices())
EOF

if [ "$PART" = many ] || [ "$PART" = all ]; then
  # the bl.fit loop is timed on 3 fits only (each pays its own compilation); see the JSON
  "$PY" benchmarks/bench_scale.py --skip-growth --loop-subset "${LOOP_SUBSET:-3}" \
      --out "$RESULTS/scale_many_gpu.json" ${SCALE_ARGS:-}
fi
if [ "$PART" = growth ] || [ "$PART" = all ]; then
  "$PY" benchmarks/bench_scale.py --skip-many --out "$RESULTS/scale_growth_gpu.json" ${GROWTH_ARGS:-}
fi
if [ "$PART" = plain ] || [ "$PART" = all ]; then
  "$PY" benchmarks/bench_plain_models.py --out "$RESULTS/plain_models_gpu.json"
fi
if [ "$PART" = sbc ] || [ "$PART" = all ]; then
  # simulation-based calibration of every catalogue law (the slow test), on the GPU
  "$PY" -m pytest tests/evaluate/test_sbc.py -m slow -q -p no:cacheprovider 2>&1 | tee "$RESULTS/sbc_gpu.log"
fi
