"""Seeds trained side by side in threads (lib/multi_seed.py, the CPU default
for ordinary runs) are each bitwise the run they would be alone, with every
checkpoint whole, though their saves overlap: Orbax, left to itself,
finishes one manager's async save with another's signals (half-written
checkpoints, 'Directory not empty' in its threads)."""
import os

import jax
import numpy as np
import pytest

from configs import cnn
from lib import checkpointing, errors, metrics_writer, multi_seed

SEEDS = (0, 1, 2, 3)


def _config(data_dir, seed):
  c = cnn.get_config('digits')
  c.seed = seed
  c.data.data_dir = data_dir
  c.model.features, c.model.convs_per_block, c.model.dense = (8, 16), 1, (32,)
  c.model.dropout = 0.5
  c.train.num_epochs, c.train.num_steps = 0.0, 8
  c.train.log_every_steps = 2
  c.train.checkpoint_every_steps = 1  # A save at every step: they overlap.
  c.train.keep_checkpoints = 3        # And Orbax deletes old ones meanwhile.
  return c


def _logged(workdir):
  """metrics.jsonl without its wall-clock times."""
  return [{k: v for k, v in m.items() if k != 'time'} for m in metrics_writer.read(workdir)]


def _train(data_dir, root, width, monkeypatch, seeds=SEEDS):
  monkeypatch.setattr(multi_seed, 'side_by_side', lambda config, seeds: width)
  multi_seed._last.clear()
  dirs = [str(root / f'seed_{s}') for s in seeds]
  return multi_seed.train_and_evaluate([_config(data_dir, s) for s in seeds],
                                       dirs, str(root), seeds_per_program=1), dirs


def test_side_by_side_is_bitwise_one_after_another(data_dir, tmp_path, monkeypatch,
                                                   capsys):
  alone, alone_dirs = _train(data_dir, tmp_path / 'alone', 1, monkeypatch)
  capsys.readouterr()
  together, dirs = _train(data_dir, tmp_path / 'together', 4, monkeypatch)
  said = capsys.readouterr().out.splitlines()
  for s, mine, theirs, d, d_alone in zip(SEEDS, together, alone, dirs, alone_dirs):
    for key in ('seed', 'test_accuracy', 'test_loss', 'validation_accuracy',
                'best_accuracy', 'best_step'):
      assert mine[key] == theirs[key], (s, key)
    assert _logged(d) == _logged(d_alone), s
    # Every checkpoint kept is whole (checksums verified on restore) and the
    # same bytes as the lone run's at that step.
    ckpt, ckpt_alone = os.path.join(d, 'checkpoints'), os.path.join(d_alone, 'checkpoints')
    steps = sorted(int(n) for n in os.listdir(ckpt) if n.isdigit())
    assert steps == [6, 7, 8], steps
    assert not [n for n in os.listdir(ckpt) if 'tmp' in n]
    for step in steps:
      jax.tree.map(np.testing.assert_array_equal,
                   checkpointing.load_state(ckpt, step)['params'],
                   checkpointing.load_state(ckpt_alone, step)['params'])
    # Whose line is whose: each seed's lines carry its label.
    assert any(l.startswith(f'[seed_{s}] step 8/8') for l in said), said[-20:]


def test_an_error_in_one_seed_stops_the_queue_and_is_raised(data_dir, tmp_path,
                                                            monkeypatch):
  """Seed 1's directory holds another config's finished run: it is refused;
  seeds queued behind it are not started, and the seed running beside it
  finishes and keeps its results."""
  first, _ = _train(data_dir, tmp_path, 1, monkeypatch, seeds=(1,))
  other = tmp_path / 'seed_1' / 'config.json'
  other.write_text(other.read_text().replace('"dropout": 0.5', '"dropout": 0.25'))
  with pytest.raises(errors.UserError):
    _train(data_dir, tmp_path, 2, monkeypatch, seeds=(0, 1, 2, 3))
  assert os.path.exists(tmp_path / 'seed_0' / 'results.json')
  assert not os.path.exists(tmp_path / 'seed_3')


def test_ctrl_c_in_a_library_call_stops_every_seed_with_a_whole_checkpoint(
    data_dir, tmp_path, monkeypatch):
  """Where no handler catches Ctrl-C (a notebook, a script), KeyboardInterrupt
  reaches the thread that waits for the seeds: the seeds running stop at
  their next step with a checkpoint, saved one at a time, before it is
  raised (nothing is left training, or saving unserialized, behind it), and
  the Ctrl-C is then spent: a next call in the same process trains."""
  import signal
  import threading
  import time
  from lib import preemption

  def committed(seed):  # Any step: only the last 3 are kept, so step 2 comes and goes.
    ckpt = tmp_path / f'seed_{seed}' / 'checkpoints'
    return ckpt.is_dir() and any(n.isdigit() for n in os.listdir(ckpt))

  def interrupt_after_the_first_checkpoints():
    deadline = time.time() + 120
    while time.time() < deadline and not all(committed(s) for s in (0, 1)):
      time.sleep(0.02)
    # Ctrl-C, handed to this thread: the kernel gives a process's signal to
    # any thread, and one not given to the main thread does not wake it.
    signal.pthread_kill(threading.get_ident(), signal.SIGINT)
  monkeypatch.setattr(multi_seed, 'side_by_side', lambda config, seeds: 2)
  multi_seed._last.clear()
  configs = [_config(data_dir, s) for s in (0, 1)]
  for c in configs:
    c.train.num_steps, c.train.checkpoint_every_steps = 600, 2
  dirs = [str(tmp_path / f'seed_{s}') for s in (0, 1)]
  # Python's own Ctrl-C handler, as in a script: a suite started as a
  # background job (`... &`) inherits SIGINT ignored, and Python keeps that.
  inherited = signal.signal(signal.SIGINT, signal.default_int_handler)
  threading.Thread(target=interrupt_after_the_first_checkpoints, daemon=True).start()
  try:
    with pytest.raises(KeyboardInterrupt):
      multi_seed.train_and_evaluate(configs, dirs, str(tmp_path), seeds_per_program=1)
    spent = not preemption._STOP.is_set()  # The next call here would train.
  finally:
    preemption.clear()
    signal.signal(signal.SIGINT, inherited)
  assert spent
  for d in dirs:
    ckpt = os.path.join(d, 'checkpoints')
    assert not [n for n in os.listdir(ckpt) if 'tmp' in n]
    steps = sorted(int(n) for n in os.listdir(ckpt) if n.isdigit())
    assert steps and steps[-1] < 600
    checkpointing.load_state(ckpt, steps[-1])  # Whole: its checksums verify.
    assert not os.path.exists(os.path.join(d, 'results.json'))


def test_a_third_seed_joins_only_where_it_saves_a_round(data_dir, monkeypatch):
  """2 at a time on 2+ cores, 3 where that needs fewer rounds and the last
  is not one seed alone (5 seeds: 3 + 2, not 2 + 2 + 1; 7: 2 + 2 + 2 + 1,
  as 3 + 3 + 1 is no shorter), never more than there are seeds; 1 on one
  core and with the grain pipeline."""
  config = _config(data_dir, 0)
  monkeypatch.setattr(os, 'sched_getaffinity', lambda pid: {0, 1}, raising=False)
  assert [multi_seed.side_by_side(config, n) for n in range(1, 9)] == [
      1, 2, 3, 2, 3, 3, 2, 3]
  monkeypatch.setattr(os, 'sched_getaffinity', lambda pid: set(range(16)), raising=False)
  assert multi_seed.side_by_side(config, 4) == 2  # More cores: unmeasured, 2.
  monkeypatch.setattr(os, 'sched_getaffinity', lambda pid: {0}, raising=False)
  assert multi_seed.side_by_side(config, 5) == 1
  monkeypatch.setattr(os, 'sched_getaffinity', lambda pid: {0, 1}, raising=False)
  config.data.pipeline = 'grain'
  assert multi_seed.side_by_side(config, 5) == 1
