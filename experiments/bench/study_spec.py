"""What the PyTorch side of experiments.bench.studies is told: the split and
the run, from our config (no flags here, so tests can import it)."""
import json
import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TORCH_SCRIPT = os.path.join(ROOT, 'experiments', 'bench', 'torch_study.py')
# The digits grid's fixed settings (configs/sweeps/common.py BASES['digits']).
GRID_CELL = ['--config.model.features=(16,32)', '--config.model.convs_per_block=1',
             '--config.model.dense=(128,)', '--config.train.num_epochs=30.0',
             '--config.train.log_every_steps=11', '--config.model.activation=relu',
             '--config.model.pooling=max', '--config.model.dropout=0.5']


def config(study: str):
  """Our config of a study: the digits grid cell ('seeds') or digits_cnn."""
  from configs import cnn  # pylint: disable=g-import-not-at-top
  c = cnn.get_config('digits')
  if study == 'seeds':  # configs/sweeps/common.py BASES['digits'].
    c.model.features, c.model.convs_per_block = (16, 32), 1
    c.model.dense, c.train.num_epochs = (128,), 30.0
  return c


def write(c, tmp: str, study: str, seeds: list[int]) -> str:
  """Writes the split ours reads (an .npz) and the spec file; its path."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  from lib.data import pipeline  # pylint: disable=g-import-not-at-top
  data = pipeline.Data(c.data, c.train.batch_size, 0)
  npz = os.path.join(tmp, 'digits.npz')
  if not os.path.exists(npz):
    train, test = data.split_arrays('train'), data.split_arrays('test')
    np.savez(npz, train_image=train['image'], train_label=train['label'],
             test_image=test['image'], test_label=test['label'])
  m, o = c.model, c.optimizer
  # What torch_study.py implements; anything else would not be the same run.
  assert (m.name, m.dropout_placement, m.activation, m.pooling, o.name, o.schedule,
          o.warmup_epochs, o.weight_decay, c.train.eval_every_epochs) == (
              'cnn', 'dense', 'relu', 'max', 'adam', 'cosine', 0.0, 0.0, 1.0)
  spec = {'data': npz, 'num_classes': data.spec.num_classes, 'seeds': seeds,
          'batch_size': c.train.batch_size, 'num_epochs': c.train.num_epochs,
          'learning_rate': o.learning_rate, 'random_shift': c.data.random_shift,
          'model': {'features': list(m.features), 'convs_per_block': m.convs_per_block,
                    'kernel_size': m.kernel_size, 'dense': list(m.dense),
                    'dropout': m.dropout}}
  path = os.path.join(tmp, f'{study}_spec.json')
  with open(path, 'w') as f:
    json.dump(spec, f, indent=2)
  return path


def machine() -> str:
  """CPU count and model, for the tables."""
  model = ''
  try:
    with open('/proc/cpuinfo') as f:
      model = next((l.split(':', 1)[1].strip() for l in f if l.startswith('model name')), '')
  except OSError:
    pass
  return f'{os.cpu_count()} CPUs, {model}'.strip(', ')
