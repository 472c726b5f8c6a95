"""The sbatch script of a study: one array element per task; and the
header and srun lines it shares with a single run's (lib/slurm_train.py).

Written into the study directory, so the exact job that ran can be read and
submitted again (`sbatch STUDY/sbatch.sh` re-runs only unfinished runs).
"""
import dataclasses
import os
import re
import shlex

from lib import errors

SCRIPT_FILE = 'sbatch.sh'
CACHE_ENV = 'JAXVISION_COMPILATION_CACHE'  # lib/compile_cache.py's.
CACHE_DIR = 'xla_cache'
_TIME = re.compile(r'^(\d+-)?\d+(:\d{1,2}){0,2}$')  # sbatch's D-HH:MM:SS forms.
_MEM = re.compile(r'^\d+[KMGT]?$')
# SIGTERM this many seconds before the time limit: time for a checkpoint.
SIGNAL_LEAD_S = 120


@dataclasses.dataclass(frozen=True)
class Resources:
  partition: str = ''
  time: str = ''       # e.g. 01:00:00
  cpus: int = 1        # Per array task.
  gpus: int = 0
  mem: str = ''        # e.g. 8G

  def check(self) -> None:
    if self.time and not _TIME.match(self.time):
      raise errors.UserError(f'--time={self.time!r}: use HH:MM:SS or D-HH:MM:SS')
    if self.mem and not _MEM.match(self.mem):
      raise errors.UserError(f'--mem={self.mem!r}: use a size like 4000M or 8G')
    if self.cpus < 1 or self.gpus < 0:
      raise errors.UserError('--cpus must be >= 1 and --gpus >= 0')

  def optional_lines(self, gpus_flag: str) -> list[str]:
    """#SBATCH lines for the settings given (gpus per task or per node)."""
    given = [('--partition', self.partition), ('--time', self.time),
             (gpus_flag, self.gpus), ('--mem', self.mem)]
    return [directive(flag, value) for flag, value in given if value]


def directive(flag: str, value) -> str:
  """One `#SBATCH` line. sbatch splits these lines at whitespace unless the
  value is double-quoted (a study directory named "my study", say)."""
  value = str(value)
  if '"' in value or '\n' in value:
    raise errors.UserError(f'{flag}={value!r}: sbatch cannot take a double '
                           'quote or newline in a path or name; rename it')
  return (f'#SBATCH {flag}="{value}"' if any(c.isspace() for c in value)
          else f'#SBATCH {flag}={value}')


def header(*, job_name: str, shape: list[tuple[str, object]], output: str,
           resources: Resources, gpus_flag: str) -> list[str]:
  """The #SBATCH lines both kinds of job start with; `shape` is theirs
  (--array, or --nodes and --ntasks-per-node)."""
  resources.check()
  return [
      '#!/bin/bash',
      directive('--job-name', job_name),
      *(directive(flag, value) for flag, value in shape),
      directive('--cpus-per-task', resources.cpus),
      directive('--output', output),
      # SLURM sends it to the job's steps (what srun starts), not the batch
      # shell: each run checkpoints and exits 0 (lib/preemption.py).
      f'#SBATCH --signal=TERM@{SIGNAL_LEAD_S}',
      *resources.optional_lines(gpus_flag),
  ]


def srun(command: list[str], tail: str = '') -> list[str]:
  """The lines that run `command` (then `tail`, unquoted) as the job's step:
  under srun, so that header()'s --signal reaches it."""
  return [
      # SLURM 22.05 to 23.02's srun does not take --cpus-per-task from the job.
      'export SRUN_CPUS_PER_TASK="$SLURM_CPUS_PER_TASK"',
      # A task that dies stops the others at once (SLURM names it), instead
      # of after the survivors' heartbeat timeout.
      'srun --kill-on-bad-exit=1 ' + ' '.join(shlex.quote(c) for c in command)
      + (f' {tail}' if tail else ''),
  ]


def script(*, study_dir: str, sweep_path: str, num_tasks: int, python: str,
           workdir: str, resources: Resources, job_name: str,
           extra_args: tuple[str, ...] = ()) -> str:
  """The sbatch script's text; paths are made absolute."""
  study_dir = os.path.abspath(study_dir)
  q = shlex.quote
  lines = header(job_name=job_name, shape=[('--array', f'0-{num_tasks - 1}')],
                 output=f'{study_dir}/slurm/%A_%a.out', resources=resources,
                 gpus_flag='--gpus')
  command = [python, '-m', 'experiments.sweep', f'--sweep={sweep_path}',
             f'--study_dir={study_dir}', *extra_args]
  lines += [
      '# Written by `launch.sh slurm`; resubmit with `sbatch` on this file:',
      '# finished runs are skipped, interrupted ones resume.',
      'set -euo pipefail',
      f'cd {q(os.path.abspath(workdir))}',
      '# One compilation cache for all tasks (lib/compile_cache.py): the first',
      '# task to compile a program writes it, the others load it.',
      f'[ -n "${{{CACHE_ENV}:-}}" ] || export {CACHE_ENV}='
      + q(os.path.join(study_dir, CACHE_DIR)),
      *srun(command, tail='--task_index="$SLURM_ARRAY_TASK_ID"'),
      '',
  ]
  return '\n'.join(lines)


def write(study_dir: str, text: str) -> str:
  os.makedirs(os.path.join(study_dir, 'slurm'), exist_ok=True)
  path = os.path.join(study_dir, SCRIPT_FILE)
  with open(path, 'w') as f:
    f.write(text)
  os.chmod(path, 0o755)
  return path
