"""experiments.visualize: every figure is written, the right size, not blank."""
import glob
import json
import os
import struct

import numpy as np
import pytest
from PIL import Image

from configs import cnn, logreg, mlp
from lib import errors, models, trainer
from lib.visualize import confusion, curves, feature_maps, filters, weights
from lib.visualize import workdir as vis
from tests.conftest import run_module

DIGITS_TEST_SIZE = 360


def _train(config, data_dir, path, steps=12) -> str:
  config.data.data_dir = data_dir
  config.train.num_epochs = 0.0
  config.train.num_steps = steps
  config.train.log_every_steps = 4
  config.train.eval_every_epochs = 0.5  # Every 5-6 steps: curves have points.
  config.train.checkpoint_every_steps = steps
  trainer.train_and_evaluate(config, str(path))
  return str(path)


def _lenet_config():
  config = cnn.get_config('digits')
  config.model = {'name': 'lenet5'}  # 8x8 digits are padded to 32x32.
  return config


CONFIGS = {
    'logreg': lambda: logreg.get_config('digits'),
    'mlp': lambda: mlp.get_config('digits'),
    'cnn': lambda: cnn.get_config('digits'),
    'lenet5': _lenet_config,
}


@pytest.fixture(scope='module')
def visualized(data_dir, tmp_path_factory):
  """kind -> (workdir, Summary); each run trained and drawn once, on demand."""
  done = {}

  def get(kind):
    if kind not in done:
      if kind == 'lenet5' and 'lenet5' not in models.MODELS:
        pytest.skip('lenet5 is not in the model zoo yet')
      path = _train(CONFIGS[kind](), data_dir, tmp_path_factory.mktemp(kind))
      done[kind] = path, vis.visualize(path, num_images=2)
    return done[kind]

  return get


def _png(path: str) -> np.ndarray:
  with open(path, 'rb') as f:
    assert f.read(8) == b'\x89PNG\r\n\x1a\n', f'{path} is not a PNG'
  with Image.open(path) as image:
    image.verify()
  with Image.open(path) as image:
    return np.asarray(image.convert('RGB'))


def _check_figure(path: str, size: tuple[int, int]) -> None:
  pixels = _png(path)
  assert (pixels.shape[1], pixels.shape[0]) == size, path
  assert pixels.std() > 0, f'{path} is blank'
  # Something beyond the background and a title: at least 1% non-white.
  assert (pixels.min(axis=-1) < 250).mean() > 0.01, f'{path} is nearly empty'


def _names(summary) -> set[str]:
  return set(summary.figures)


def test_cnn_gets_every_conv_figure(visualized):
  path, summary = visualized('cnn')
  figures = os.path.join(path, 'figures')
  assert _names(summary) == {
      'filters', 'confusion_matrix', 'learning_curves',
      'feature_maps_test0', 'feature_maps_test1'}
  _check_figure(os.path.join(figures, 'filters.png'), filters.figure_size(32))
  # conv0_0, conv0_1, pool, conv1_0, conv1_1, pool.
  for png in glob.glob(os.path.join(figures, 'feature_maps_*.png')):
    _check_figure(png, feature_maps.figure_size(6))
  _check_figure(os.path.join(figures, 'confusion_matrix.png'),
                confusion.figure_size(10))
  _check_figure(os.path.join(figures, 'learning_curves.png'), curves.SIZE)
  assert not summary.notes


@pytest.mark.parametrize('kind, per_class, units', [
    ('logreg', True, 10), ('mlp', False, 256)])
def test_dense_models_get_weight_images_and_notes(visualized, kind, per_class,
                                                  units):
  path, summary = visualized(kind)
  figures = os.path.join(path, 'figures')
  assert _names(summary) == {'first_layer_weights', 'confusion_matrix',
                             'learning_curves'}
  _check_figure(os.path.join(figures, 'first_layer_weights.png'),
                weights.figure_size(units, per_class))
  _check_figure(os.path.join(figures, 'confusion_matrix.png'),
                confusion.figure_size(10))
  _check_figure(os.path.join(figures, 'learning_curves.png'), curves.SIZE)
  notes = ' '.join(summary.notes)
  assert 'filters' in notes and 'feature maps' in notes
  assert not glob.glob(os.path.join(figures, 'feature_maps_*'))


@pytest.mark.parametrize('kind', ['cnn', 'logreg'])
def test_confusion_matrix_covers_the_test_split(visualized, kind):
  path, _ = visualized(kind)
  with open(os.path.join(path, 'figures', vis.REPORT_FILE)) as f:
    report = json.load(f)
  cm = np.asarray(report['confusion_matrix'])
  assert cm.shape == (10, 10)
  assert cm.sum() == report['num_examples'] == DIGITS_TEST_SIZE
  per_class = report['per_class']
  assert sorted(per_class) == [str(i) for i in range(10)]
  assert all({'precision', 'recall', 'f1-score', 'support'} <= set(v)
             for v in per_class.values())
  assert sum(v['support'] for v in per_class.values()) == DIGITS_TEST_SIZE
  # The same checkpoint, the same examples: the trainer's final accuracy.
  with open(os.path.join(path, 'results.json')) as f:
    results = json.load(f)
  assert report['accuracy'] == pytest.approx(results['test_accuracy'], abs=1e-6)
  assert np.trace(cm) / cm.sum() == pytest.approx(report['accuracy'])


def _tensorboard_image_tags(logdir: str) -> set[str]:
  """Image summaries in tfevents files (TFRecord framing, no TensorFlow)."""
  from tensorboardX.proto import event_pb2  # pylint: disable=g-import-not-at-top
  tags = set()
  for name in glob.glob(os.path.join(logdir, 'events.out.tfevents*')):
    with open(name, 'rb') as f:
      data = f.read()
    pos = 0
    while pos + 12 <= len(data):
      (length,) = struct.unpack('<Q', data[pos:pos + 8])
      event = event_pb2.Event.FromString(data[pos + 12:pos + 12 + length])
      pos += 12 + length + 4
      tags |= {v.tag for v in event.summary.value if v.HasField('image')}
  return tags


def test_figures_are_logged_to_tensorboard(visualized):
  path, summary = visualized('cnn')
  tags = _tensorboard_image_tags(os.path.join(path, 'tensorboard'))
  assert tags == {f'figures/{name}' for name in summary.figures}


def test_zoo_model_lenet5(visualized):
  path, summary = visualized('lenet5')
  assert {'filters', 'feature_maps_test0', 'confusion_matrix'} <= _names(summary)
  # c1 has 6 filters; stages c1, S2, c3, S4, c5.
  _check_figure(summary.figures['filters'], filters.figure_size(6))
  _check_figure(summary.figures['feature_maps_test0'],
                feature_maps.figure_size(5))


def test_image_file_is_resized_to_the_input(visualized, tmp_path):
  path, _ = visualized('cnn')
  image = np.zeros((40, 30, 3), np.uint8)
  image[5:35, 12:18] = (255, 200, 0)  # A colour "1", larger than 8x8.
  Image.fromarray(image).save(tmp_path / 'my digit.png')
  assert vis.read_image(str(tmp_path / 'my digit.png'), (8, 8, 1)).shape == (8, 8, 1)
  summary = vis.visualize(path, image_path=str(tmp_path / 'my digit.png'))
  assert 'feature_maps_my_digit' in summary.figures
  assert not any(k.startswith('feature_maps_test') and k not in (
      'feature_maps_test0', 'feature_maps_test1') for k in summary.figures)
  _check_figure(summary.figures['feature_maps_my_digit'],
                feature_maps.figure_size(6))
  assert any('predicted class' in note for note in summary.notes)


def test_bad_input_is_a_user_error(visualized, tmp_path):
  path, _ = visualized('cnn')
  with pytest.raises(errors.UserError, match='does not exist'):
    vis.visualize(str(tmp_path / 'nowhere'))
  (tmp_path / 'config.json').write_text(
      open(os.path.join(path, 'config.json')).read())
  with pytest.raises(errors.UserError, match='no checkpoint'):
    vis.visualize(str(tmp_path))
  (tmp_path / 'not_an_image.png').write_text('hello')
  with pytest.raises(errors.UserError, match='cannot read'):
    vis.visualize(path, image_path=str(tmp_path / 'not_an_image.png'))
  with pytest.raises(errors.UserError, match='no such file'):
    vis.visualize(path, image_path=str(tmp_path / 'missing.png'))


@pytest.mark.slow
def test_cli_reports_a_missing_run_in_one_line(tmp_path):
  proc = run_module('experiments.visualize', f'--workdir={tmp_path / "no_run"}')
  assert proc.returncode == 2
  lines = proc.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith('error: '), proc.stderr[-2000:]
  assert 'does not exist' in lines[0]


def test_feature_map_stages_follow_the_model_as_written():
  """conv -> relu at full size, then the pool: the model as written."""
  import jax  # pylint: disable=g-import-not-at-top
  from lib.visualize import probe  # pylint: disable=g-import-not-at-top
  model = models.build(cnn.get_config('digits').model, 10)
  images = np.random.default_rng(0).random((2, 8, 8, 1), np.float32)
  variables = model.init(jax.random.PRNGKey(0), images)
  trace = probe.trace(model, variables, images)
  assert [(s.name, s.maps.shape[1:3]) for s in trace.stages] == [
      ('conv0_0/conv + relu', (8, 8)), ('conv0_1/conv + relu', (8, 8)),
      ('max pool 2x2', (4, 4)), ('conv1_0/conv + relu', (4, 4)),
      ('conv1_1/conv + relu', (4, 4)), ('max pool 2x2', (2, 2))]
  np.testing.assert_allclose(trace.logits, model.apply(variables, images),
                             rtol=1e-5, atol=1e-6)


def test_a_zoomed_accuracy_axis_says_where_it_starts(monkeypatch):
  drawn = []
  monkeypatch.setattr(curves.canvas, 'to_rgb', lambda fig: drawn.append(fig) or fig)
  records = [{'split': s, 'step': step, 'loss': 0.1, 'accuracy': acc}
             for step, acc in ((10, 0.90), (20, 0.95), (30, 0.97)) for s in ('train', 'test')]
  curves.draw(records, 'run')
  acc_ax = drawn[0].axes[1]
  low = acc_ax.get_ylim()[0]
  assert low > 80 and acc_ax.get_title() == f'accuracy (axis starts at {low:.3g}%, not 0)'
  curves.draw([{**r, 'accuracy': r['accuracy'] - 0.85} for r in records], 'run')
  assert drawn[1].axes[1].get_title() == 'accuracy'  # From 0: nothing to say.
