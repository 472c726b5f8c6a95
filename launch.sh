#!/usr/bin/env bash
# One entry point for users and CI. Each command first makes sure the
# project's virtual environment (.venv, Python 3.12) has requirements.txt.
#
#   ./launch.sh train [FLAGS...]   train (default: configs/cnn.py:digits into runs/)
#   ./launch.sh test [PYTEST ARGS] run the test suite
#   ./launch.sh setup              only create/update the environment
#   ./launch.sh prepare NAME [--data_dir=DIR] [--manual_dir=DIR] [--download_dir=DIR]
#                                  download and prepare the TFDS dataset NAME
#                                  (TFDS syntax: mnist, cifar10:3.0.2) as
#                                  array_record with TFDS's own builder, or
#                                  convert a tfrecord one in place; then open it
#                                  with our reader. Runs in its own environment,
#                                  .venv-prepare (TensorFlow; made once, from
#                                  lib/data/requirements-prepare.txt); data_dir
#                                  defaults to $TFDS_DATA_DIR or
#                                  ~/tensorflow_datasets, as training's does;
#                                  --manual_dir holds files TFDS cannot download
#                                  (imagenet2012's tars)
#   ./launch.sh setup --prepare    only create/update .venv-prepare
#   ./launch.sh run MODULE [ARGS]  python -m MODULE inside the environment,
#                                  e.g. ./launch.sh run experiments.seeds --help
#   ./launch.sh slurm --sweep=FILE[:ARG] --study_dir=DIR [--partition=P --time=HH:MM:SS
#                     --cpus=N --gpus=N --mem=M] [--dry-run]
#                                  write DIR/sbatch.sh (an array job, one task per
#                                  run or seed group) and submit it; prints the job id
#   ./launch.sh slurm --config=FILE --workdir=DIR --nodes=N --ntasks_per_node=M
#                     [--partition=... --time=... --cpus=... --gpus=... --mem=...]
#                                  one multi-host run (N x M processes under srun)
#   ./launch.sh slurm ... --dry-run   write the script and print its path and the
#                                  sbatch command; submit nothing (no SLURM needed)
#   ./launch.sh slurm --help       what follows, in full
#
#   ./launch.sh setup --dry-run    say which accelerator was found and what pip
#                                  would install for it; install nothing
#
# Environment: PYTHON=/path/to/python3.12 to choose the interpreter;
# VENV=dir to put the environment elsewhere (default .venv; PREPARE_VENV
# for .venv-prepare);
# ACCEL=cuda12|cuda13|tpu|cpu to choose the accelerator (default: found from
# nvidia-smi's CUDA version or a TPU's /dev/accel0, else cpu); setup installs
# jax's plugin for it (lib/accelerator/requirements-ACCEL.txt), and a run that
# asked for an accelerator but got the CPU stops (exit 2).
set -euo pipefail
CALLER_DIR=$PWD  # prepare's relative paths are the caller's.
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

# The accelerator this machine has, or the one ACCEL names.
detect_accel() {
  if [ -n "${ACCEL:-}" ]; then
    case "$ACCEL" in cpu|cuda12|cuda13|tpu) echo "$ACCEL"; return ;; esac
    die "ACCEL=$ACCEL: use cuda12, cuda13, tpu or cpu"
  fi
  local smi cuda
  if smi=$(nvidia-smi 2>/dev/null); then
    cuda=$(grep -o 'CUDA Version: *[0-9]*' <<<"$smi" | grep -o '[0-9]*$' || true)
    [ -n "$cuda" ] || die "nvidia-smi runs but names no CUDA version; set ACCEL=cuda12, cuda13 or cpu"
    [ "$cuda" -ge 12 ] || die "the NVIDIA driver supports CUDA $cuda; jax needs 12 or later: update the driver, or set ACCEL=cpu"
    [ "$cuda" -ge 13 ] && echo cuda13 || echo cuda12
  elif [ -e /dev/accel0 ]; then
    echo tpu
  else
    echo cpu
  fi
}

ACCEL=$(detect_accel)
export ACCEL  # The run checks that it got the backend it asked for.

# The requirement files for this accelerator, in install order.
requirement_files() {
  echo requirements.txt
  [ "$ACCEL" = cpu ] || echo "lib/accelerator/requirements-$ACCEL.txt"
}

setup() {
  local want files
  files=$(requirement_files)
  want=$(cat $files | sha256sum | cut -d' ' -f1)
  [ "$ACCEL" = cpu ] || want="$want $ACCEL"
  if [ "${1:-}" = --dry-run ]; then
    echo "ACCEL=$ACCEL"
    local py="$VENV/bin/python"
    [ -x "$py" ] || py=$(find_python)
    local f out
    for f in $files; do
      out=$("$py" -m pip install --dry-run -r "$f" 2>&1) || die "pip cannot resolve $f: $(tail -1 <<<"$out")"
      echo "$f: $(grep '^Would install' <<<"$out" || echo 'nothing to install')"
    done
    return
  fi
  ensure_venv "$VENV" "$want" "(ACCEL=$ACCEL)" $files
}

# Makes virtual environment $1 hold the requirement files $4...: once, and
# again only when the stamp $2 (their hash) changes; $3 is said with each.
ensure_venv() {
  local venv=$1 want=$2 what=$3 lock=''; shift 3
  local stamp="$venv/.requirements.sha256"
  venv_ready() {
    [ -x "$venv/bin/python" ] && is_py312 "$venv/bin/python" && \
      [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]
  }
  venv_ready && return
  # One install at a time (two launches at once, pytest -n): the others
  # wait for it and then find the stamp.
  if command -v flock >/dev/null; then
    local lock; exec {lock}>"$venv.lock"; flock "$lock"
    venv_ready && { exec {lock}>&-; return; }
  fi
  local py; py=$(find_python)
  echo "setting up $venv with $("$py" --version) ..." >&2
  "$py" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --upgrade pip
  local f
  for f in "$@"; do
    echo "installing $f $what ..." >&2
    "$venv/bin/python" -m pip install --quiet -r "$f"
  done
  echo "$want" > "$stamp"  # Written last: an interrupted install is redone.
  [ -z "${lock:-}" ] || exec {lock}>&-  # Not held by what runs next.
}

# The prepare step's own environment: TensorFlow and TFDS's builders
# (lib/data/requirements-prepare.txt), kept out of the training one.
PREPARE_VENV=${PREPARE_VENV:-.venv-prepare}
PREPARE_REQUIREMENTS=lib/data/requirements-prepare.txt
PREPARE_USAGE="./launch.sh prepare NAME [--data_dir=DIR] [--manual_dir=DIR] [--download_dir=DIR]"

setup_prepare() {
  local want; want=$(sha256sum < "$PREPARE_REQUIREMENTS" | cut -d' ' -f1)
  ensure_venv "$PREPARE_VENV" "$want" "(TensorFlow, for preparing datasets)" "$PREPARE_REQUIREMENTS"
}

# prepare's arguments, checked before any environment is built.
check_prepare_args() {
  local name='' a
  for a in "$@"; do
    case "$a" in
      --data_dir=?*|--manual_dir=?*|--download_dir=?*) ;;
      -*) die "prepare: unknown or empty flag '$a' (flags take '=': --data_dir=DIR); usage: $PREPARE_USAGE" ;;
      *) [ -z "$name" ] || die "prepare takes one dataset name, got '$name' and '$a'; usage: $PREPARE_USAGE"
         name=$a ;;
    esac
  done
  [ -n "$name" ] || die "prepare needs a TFDS dataset name (e.g. mnist, cifar10:3.0.2); usage: $PREPARE_USAGE"
}

SLURM_HELP="usage: ./launch.sh slurm --sweep=FILE[:ARG] --study_dir=DIR [RESOURCES] [--dry-run]
       ./launch.sh slurm --config=FILE[:ARG] --workdir=DIR [--nodes=N --ntasks_per_node=M]
                         [--config.FIELD=VALUE ...] [RESOURCES] [--dry-run]

A study (--sweep) becomes one SLURM array job, DIR/sbatch.sh, one element per
run or seed group; a single run (--config) becomes one job of N x M processes
under srun, WORKDIR/sbatch.sh. The input is checked before anything is
written; then the script is submitted with sbatch and the job id printed.
Other flags go to experiments.sweep (e.g. --seeds=2 --set=train.num_epochs=2)
or experiments.train (e.g. --config.train.num_steps=100).

RESOURCES   --partition=P --time=HH:MM:SS --cpus=N (per task) --gpus=N
            (per array task; per node for --config) --mem=SIZE (e.g. 8G)
--dry-run   write the script, print its path and the sbatch command that
            would submit it; submit nothing (no SLURM needed here)
--help      this text

Each job gets SIGTERM 120 s before its time limit (#SBATCH --signal=TERM@120):
the runs checkpoint and stop; sbatch the same script again to resume them
(finished runs are skipped). The same scripts, without launch.sh:
  python -m experiments.sweep --sbatch --sweep=FILE --study_dir=DIR ...
  python -m experiments.train --sbatch --config=FILE --workdir=DIR ..."

cmd=${1:-train}; shift || true
case "$cmd" in
  setup)
    if [ "${1:-}" = --prepare ]; then setup_prepare; else setup "$@"; fi ;;
  prepare)
    check_prepare_args "$@"
    args=()
    for a in "$@"; do
      case "$a" in
        --*=/*|--*=~*) args+=("$a") ;;  # lib.data.prepare expands '~'.
        --*=*) args+=("${a%%=*}=$CALLER_DIR/${a#*=}") ;;
        *) args+=("$a") ;;
      esac
    done
    set -- "${args[@]}"
    setup
    setup_prepare
    # TFDS's builder writes the dataset (with TensorFlow), then our reader,
    # in the training environment, opens what it wrote.
    "$PREPARE_VENV/bin/python" -m lib.data.prepare "$@"
    exec "$VENV/bin/python" -m lib.data.prepare --verify "$@" ;;
  train)
    setup
    args=("$@")
    [[ " $* " == *" --config="* ]] || args=(--config=configs/cnn.py:digits "${args[@]}")
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
    dry_run='' args=()
    for a in "$@"; do
      case "$a" in
        -h|--help|-help) echo "$SLURM_HELP"; exit 0 ;;
        --dry-run|--dry_run) dry_run=1 ;;
        *) args+=("$a") ;;
      esac
    done
    [ ${#args[@]} -gt 0 ] || die "slurm needs --sweep=FILE --study_dir=DIR (a study) or --config=FILE --workdir=DIR (a run); see ./launch.sh slurm --help"
    # Before the environment is built: no SLURM here is said at once.
    [ -n "$dry_run" ] || command -v sbatch >/dev/null || die "sbatch not found: run this where SLURM is installed, or add --dry-run to write the script without submitting it (a test cluster: tests/slurm/cluster.sh up)"
    setup
    set -- "${args[@]}"
    # A study (--sweep) becomes an array job; a single run (--config) a
    # job of --nodes x --ntasks_per_node processes. Either way the module
    # checks its input, writes the sbatch script and prints its path.
    if [[ " $* " == *" --sweep="* ]]; then
      script=$("$VENV/bin/python" -m experiments.sweep --sbatch "$@")
    else
      script=$("$VENV/bin/python" -m experiments.train --sbatch "$@")
    fi
    if [ -n "$dry_run" ]; then
      echo "wrote $script ($(sed -n 's/^#SBATCH //p' "$script" | paste -sd' ')); not submitted (--dry-run); to submit it: sbatch $(printf %q "$script")" >&2
      echo "$script"
      exit 0
    fi
    jobid=$(sbatch --parsable "$script") || die "sbatch $script failed"
    echo "submitted $script as job ${jobid%%;*}" >&2
    echo "${jobid%%;*}" ;;
  *) die "unknown command '$cmd'; use one of: train, test, setup, prepare, run, slurm" ;;
esac
