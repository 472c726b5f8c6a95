#!/usr/bin/env bash
# The wheels the borrowed GPU machine lacks for the device check, into .whl/
# (git-ignored; a `run` carries it). That machine has no network and its own
# Python 3.12 with jax 0.11.2, flax, optax, orbax, absl, etils, protobuf,
# pandas, scikit-learn, pytest... (/work/.library/device/KINDS.md), but not
# these. One version of each (pip --target refuses two); --no-deps, so every
# dependency it lacks is named here too (from each wheel's Requires-Dist).
#
#   experiments/bench/device_wheels.sh        # here, where PyPI answers (~12 MB)
#   experiments/bench/device_install.sh       # there, first thing in the `run`
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-python3}
WHL=.whl

# Ours, at requirements.txt's versions; then theirs, dependency by dependency.
WHEELS=(
  grain==0.2.18 array-record==0.8.6 tensorflow-datasets==4.9.10
  ml-collections==1.1.0 tensorboardX==2.6.5 mlxtend==0.25.0
  portpicker==1.6.0           # grain's; and tests/test_multiprocess.py's
  importlib_resources==7.1.0  # tfds imports it (undeclared); etils[epath]'s
  dm-tree==0.1.10 immutabledict==4.3.1 simple-parsing==0.1.9 docstring_parser==0.18.0
  tensorflow-metadata==1.21.0 googleapis-common-protos==1.76.0 termcolor==3.3.0
  toml==0.10.2                # all tfds's
)
# tfds's too; PyPI has only its source, so it is built here (pure Python).
SOURCE_ONLY=(promise==2.3)
# tensorflow-metadata's generated code needs protobuf >= 6.31.1 at run time;
# device_install.sh adds this one only if the machine's is older.
FALLBACK=(protobuf==7.36.2)

PLATFORMS=(--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64
           --platform manylinux_2_24_x86_64 --platform manylinux_2_17_x86_64
           --platform manylinux2014_x86_64 --platform manylinux1_x86_64)
rm -rf "$WHL" && mkdir -p "$WHL/fallback"
download() {
  "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp "${PLATFORMS[@]}" "$@"
}
download -d "$WHL" "${WHEELS[@]}"
"$PY" -m pip wheel -q --no-deps -w "$WHL" "${SOURCE_ONLY[@]}"
download -d "$WHL/fallback" "${FALLBACK[@]}"
n=$(ls "$WHL"/*.whl | wc -l)
expected=$(( ${#WHEELS[@]} + ${#SOURCE_ONLY[@]} ))
if [ "$n" -ne "$expected" ]; then
  echo "error: $n wheels in $WHL, expected $expected; see pip's output above" >&2
  exit 1
fi
echo "$n wheels (+ fallback protobuf) in $WHL: $(du -sh "$WHL" | cut -f1)"
