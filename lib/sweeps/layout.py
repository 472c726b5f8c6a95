"""Where a study keeps things, and what state each run is in.

    STUDY/sweep.json                  the plan: runs, their overrides, tasks
    STUDY/sbatch.sh, STUDY/slurm/     the SLURM array job and its logs
    STUDY/<group>/seed=<k>/           one run: config.json, metrics.jsonl,
                                      results.json (finished) or FAILED
    STUDY/<group>/checkpoints/        stacked states of vmapped seed groups
                                      (one seed per program: in each run's dir)
    STUDY/xla_cache/                  the SLURM array's compilation cache
"""
import json
import os

from lib import atomic, trainer

PLAN_FILE = 'sweep.json'
FAILED_FILE = 'FAILED'


def run_dir(study_dir: str, run_name: str) -> str:
  return os.path.join(study_dir, *run_name.split('/'))


def group_dir(study_dir: str, group: str) -> str:
  return os.path.join(study_dir, group)


def is_finished(study_dir: str, run_name: str) -> bool:
  return os.path.exists(os.path.join(run_dir(study_dir, run_name), trainer.RESULTS_FILE))


def failure(study_dir: str, run_name: str) -> str | None:
  """The recorded error of a failed run (its first line), or None."""
  path = os.path.join(run_dir(study_dir, run_name), FAILED_FILE)
  if not os.path.exists(path):
    return None
  with open(path) as f:
    return f.readline().strip()


def record_failure(study_dir: str, run_name: str, message: str, details: str) -> None:
  path = run_dir(study_dir, run_name)
  os.makedirs(path, exist_ok=True)
  with open(os.path.join(path, FAILED_FILE), 'w') as f:
    f.write(message.replace('\n', ' ') + '\n\n' + details)


def clear_failure(study_dir: str, run_name: str) -> None:
  path = os.path.join(run_dir(study_dir, run_name), FAILED_FILE)
  if os.path.exists(path):
    os.remove(path)


def write_json(path: str, obj) -> None:
  atomic.write_json(path, obj, default=list)


def read_plan(study_dir: str) -> dict | None:
  path = os.path.join(study_dir, PLAN_FILE)
  if not os.path.exists(path):
    return None
  with open(path) as f:
    return json.load(f)
