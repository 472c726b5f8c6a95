#!/usr/bin/env bash
# One entry point for users and CI. Each command first makes sure the
# project's virtual environment (.venv, Python 3.12) has requirements.txt.
#
#   ./launch.sh train [FLAGS...]   train (default: configs/digits_cnn.py into runs/)
#   ./launch.sh test [PYTEST ARGS] run the test suite
#   ./launch.sh setup              only create/update the environment
#   ./launch.sh run MODULE [ARGS]  python -m MODULE inside the environment,
#                                  e.g. ./launch.sh run experiments.seeds --help
#   ./launch.sh slurm --sweep=FILE --study_dir=DIR [--partition=P --time=HH:MM:SS
#                     --cpus=N --gpus=N --mem=M]
#                                  write DIR/sbatch.sh (an array job, one task per
#                                  run or seed group) and submit it; prints the job id
#   ./launch.sh slurm --config=FILE --workdir=DIR --nodes=N --ntasks_per_node=M
#                     [--partition=... --time=... --cpus=... --gpus=... --mem=...]
#                                  one multi-host run (N x M processes under srun)
#
# Environment: PYTHON=/path/to/python3.12 to choose the interpreter;
# VENV=dir to put the environment elsewhere (default .venv).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
VENV=${VENV:-.venv}

die() { echo "error: $*" >&2; exit 2; }

is_py312() { "$1" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' 2>/dev/null; }

# jax 0.12 needs Python >= 3.12, and a machine's default python3 is often
# older; pyenv's shim for python3.12 fails unless 3.12 is activated, so look
# in pyenv's versions directly too.
find_python() {
  local candidates=("${PYTHON:-}" python3.12)
  local root; root=$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")
  candidates+=("$root"/versions/3.12*/bin/python3.12 /usr/local/bin/python3.12 /usr/bin/python3.12)
  for p in "${candidates[@]}"; do
    [ -n "$p" ] && is_py312 "$p" && { echo "$p"; return; }
  done
  die "Python 3.12 not found; install it (e.g. 'pyenv install 3.12') or set PYTHON=/path/to/python3.12"
}

setup() {
  local stamp="$VENV/.requirements.sha256" want
  want=$(sha256sum requirements.txt | cut -d' ' -f1)
  if [ -x "$VENV/bin/python" ] && is_py312 "$VENV/bin/python" && \
     [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    return
  fi
  local py; py=$(find_python)
  echo "setting up $VENV with $("$py" --version) ..." >&2
  "$py" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  "$VENV/bin/python" -m pip install --quiet -r requirements.txt
  echo "$want" > "$stamp"  # Written last: an interrupted install is redone.
}

cmd=${1:-train}; shift || true
case "$cmd" in
  setup) setup ;;
  train)
    setup
    args=("$@")
    [[ " $* " == *" --config="* ]] || args=(--config=configs/digits_cnn.py "${args[@]}")
    [[ " $* " == *" --workdir="* ]] || args+=(--workdir="runs/$(date +%Y%m%d-%H%M%S)")
    exec "$VENV/bin/python" -m experiments.train "${args[@]}" ;;
  test)
    setup
    exec "$VENV/bin/python" -m pytest "$@" ;;
  run)
    setup
    [ $# -ge 1 ] || die "usage: ./launch.sh run MODULE [ARGS...]"
    exec "$VENV/bin/python" -m "$@" ;;
  slurm)
    setup
    command -v sbatch >/dev/null || die "sbatch not found: run this where SLURM is installed (a test cluster: tests/slurm/cluster.sh up)"
    # A study (--sweep) becomes an array job; a single run (--config) a
    # job of --nodes x --ntasks_per_node processes. Either way the module
    # checks its input, writes the sbatch script and prints its path.
    if [[ " $* " == *" --sweep="* ]]; then
      script=$("$VENV/bin/python" -m experiments.sweep --sbatch "$@")
    else
      script=$("$VENV/bin/python" -m experiments.train --sbatch "$@")
    fi
    jobid=$(sbatch --parsable "$script") || die "sbatch $script failed"
    echo "submitted $script as job ${jobid%%;*}" >&2
    echo "${jobid%%;*}" ;;
  *) die "unknown command '$cmd'; use one of: train, test, setup, run, slurm" ;;
esac
