"""The sbatch script of one (multi-host) training run.

`srun` starts nodes x tasks_per_node processes; each finds the others through
SLURM's environment (lib/distributed.py), so the training command is the
same as on one machine. The script is written into the run directory so the
job can be read and submitted again (a resubmitted job resumes).
"""
import os
import shlex

from lib import atomic, errors
from lib.sweeps import slurm

SCRIPT_FILE = 'sbatch.sh'


def script(*, workdir: str, train_args: list[str], python: str, repo_dir: str,
           nodes: int, tasks_per_node: int, resources: slurm.Resources,
           job_name: str) -> str:
  if nodes < 1 or tasks_per_node < 1:
    raise errors.UserError('--nodes and --ntasks_per_node must be >= 1')
  workdir = os.path.abspath(workdir)
  lines = slurm.header(
      job_name=job_name,
      shape=[('--nodes', nodes), ('--ntasks-per-node', tasks_per_node)],
      output=f'{workdir}/slurm-%j.out', resources=resources,
      gpus_flag='--gpus-per-node')
  command = [python, '-m', 'experiments.train', *train_args,
             f'--workdir={workdir}']
  lines += [
      '# Written by `launch.sh slurm`; `sbatch` this file again to resume.',
      'set -euo pipefail',
      f'cd {shlex.quote(os.path.abspath(repo_dir))}',
      *slurm.srun(command),
      '',
  ]
  return '\n'.join(lines)


def write(workdir: str, text: str) -> str:
  os.makedirs(workdir, exist_ok=True)
  path = os.path.join(workdir, SCRIPT_FILE)
  with atomic.replacing(path, permissions=0o755) as f:
    f.write(text)
  return path
