#!/usr/bin/env bash
# On the borrowed GPU machine (no network): installs the carried wheels of
# device_wheels.sh into $SITE (default /tmp/site), for PYTHONPATH=$SITE.
#
#   bash experiments/bench/device_install.sh && \
#     PYTHONPATH=/tmp/site python3 -m experiments.bench.device_check --out=$OUT
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-python3}
SITE=${SITE:-/tmp/site}
if ! ls .whl/*.whl >/dev/null 2>&1; then
  echo "error: no wheels in .whl/: run experiments/bench/device_wheels.sh where PyPI" \
       "answers, and name .whl in the run's carry" >&2
  exit 2
fi
wheels=(.whl/*.whl)
# tensorflow-metadata's generated code refuses a protobuf runtime older than
# the protoc that made it (6.31.1); bring ours only then, since a newer one
# could refuse the older generated code of the machine's own packages.
if ! "$PY" -c 'import sys; from google.protobuf import __version__ as v
sys.exit(tuple(int(x) for x in v.split(".")[:3]) < (6, 31, 1))' 2>/dev/null; then
  echo "device_install: the machine's protobuf is older than 6.31.1 (or missing): adding ours"
  wheels+=(.whl/fallback/*.whl)
fi
# One pip call: --target replaces a top-level folder (google/) a second call
# installs into, and would drop what the first put there.
"$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target "$SITE" "${wheels[@]}"
echo "device_install: ${#wheels[@]} wheels in $SITE ($("$PY" --version), \
$("$PY" -c 'import jax, numpy; print("jax", jax.__version__, "numpy", numpy.__version__)'))"
