"""Which accelerator a run uses, and a clear stop when it is not the one asked for.

`launch.sh` picks ACCEL (cuda12 | cuda13 | tpu | cpu): what the user set, or
what it finds (nvidia-smi's CUDA version, a TPU's /dev/accel0), installs
jax's matching plugin from this folder's requirements-ACCEL.txt, and passes
ACCEL to the run. The run's first line names its backend and devices; a run
that asked for an accelerator but got only the CPU stops with one line
(exit 2) instead of training for days on the wrong chip. Without ACCEL (a
plain `python -m ...`), whatever JAX finds is used.

GPU memory: JAX takes 75% of each GPU's memory when it starts
(XLA_PYTHON_CLIENT_PREALLOCATE / XLA_PYTHON_CLIENT_MEM_FRACTION). That is
what a job that owns its GPUs wants, so it is left as it is; jobs that share
a GPU set XLA_PYTHON_CLIENT_MEM_FRACTION=0.3 (say) or
XLA_PYTHON_CLIENT_PREALLOCATE=false in their environment (lib/README.md,
"GPUs and TPUs").
"""
import os

import jax

from lib import errors

BACKEND_OF = {'cpu': 'cpu', 'cuda12': 'gpu', 'cuda13': 'gpu', 'tpu': 'tpu'}


def requested() -> str | None:
  """The ACCEL that launch.sh set up (None when started without it)."""
  accel = os.environ.get('ACCEL') or None
  if accel is not None and accel not in BACKEND_OF:
    raise errors.UserError(f'ACCEL={accel!r}: use one of {", ".join(BACKEND_OF)}')
  return accel


def describe() -> str:
  devices = jax.devices()
  kinds = sorted({d.device_kind for d in devices})
  return (f'backend {jax.default_backend()}: {len(devices)} device(s) '
          f'({", ".join(kinds)}) in {jax.process_count()} process(es)')


def check_and_announce() -> None:
  """Prints the backend line (process 0); UserError if ACCEL asked for an
  accelerator and JAX found none."""
  accel, backend = requested(), jax.default_backend()
  if accel is not None and BACKEND_OF[accel] != backend:
    raise errors.UserError(
        f'ACCEL={accel} asked for a {BACKEND_OF[accel].upper()} but JAX runs on '
        f'the {backend.upper()} ({describe()}); check that the device is visible '
        f'(nvidia-smi, /dev/accel0) and that `ACCEL={accel} ./launch.sh setup` '
        'installed its plugin, or run with ACCEL=cpu')
  if jax.process_index() == 0:
    print(describe(), flush=True)
