"""experiments.predict and experiments.visualize --init_from on imported
weights (random tensors under torchvision's names, written by the test)."""
import re

import numpy as np
import pytest
from PIL import Image
from safetensors import numpy as st

from lib import errors, imported
from tests.conftest import run_module
from tests.test_pretrained import random_checkpoint, variables_of


@pytest.fixture(scope='module')
def files(tmp_path_factory):
  path = tmp_path_factory.mktemp('imported')
  for name in ('resnet18', 'alexnet'):
    _, shapes = variables_of(name)
    st.save_file(random_checkpoint(name, shapes, dtype=np.float32),
                 str(path / f'{name}.safetensors'))
  rng = np.random.default_rng(0)
  Image.fromarray(rng.integers(0, 256, (300, 400, 3), np.uint8)).save(
      path / 'cat.jpg', quality=95)
  (path / 'notes.jpg').write_text('not an image')
  return path


@pytest.mark.slow
def test_predict_prints_five_ranked_imagenet_classes(files):
  proc = run_module('experiments.predict',
                    f'--init_from={files / "resnet18.safetensors"}',
                    f'--image={files / "cat.jpg"}')
  assert proc.returncode == 0, proc.stderr[-2000:]
  lines = proc.stdout.strip().splitlines()
  assert len(lines) == 5, proc.stdout
  names = imported.imagenet_class_names()
  probs = []
  for rank, line in enumerate(lines, 1):
    match = re.fullmatch(r'(\d) ([01]\.\d{4}) (.+)', line)
    assert match and int(match[1]) == rank and match[3] in names, line
    probs.append(float(match[2]))
  assert probs == sorted(probs, reverse=True) and sum(probs) <= 1.0001


@pytest.mark.slow
def test_visualize_draws_an_imported_alexnets_filters_and_maps(files):
  out = files / 'figures'
  proc = run_module('experiments.visualize',
                    f'--init_from={files / "alexnet.safetensors"}',
                    f'--image={files / "cat.jpg"}', f'--out={out}')
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert sorted(p.name for p in out.iterdir()) == [
      'feature_maps_cat.png', 'filters.png']
  assert Image.open(out / 'filters.png').size[0] > 0


def test_images_are_read_as_imagenet_evaluation_reads_them(files):
  """Shorter side to 256 (300x400 -> 256x341), then the centre 224x224
  (columns 58..282 of 341): the white right half starts at column 112."""
  image = np.zeros((300, 400, 3), np.uint8)
  image[:, 200:] = 255  # Right half white: the crop keeps the edge centred.
  path = files / 'half.png'
  Image.fromarray(image).save(path)
  out = imported.read_image(str(path))
  assert out.shape == (224, 224, 3) and out.dtype == np.uint8
  assert out[:, :100].max() == 0 and out[:, 124:].min() == 255


def test_a_file_that_is_no_image_is_one_line(files):
  for path, message in ((files / 'notes.jpg', 'cannot read'),
                        (files / 'none.jpg', 'no such file')):
    with pytest.raises(errors.UserError, match=message) as e:
      imported.read_image(str(path))
    assert '\n' not in str(e.value)
  with pytest.raises(errors.UserError, match='none of the zoo models'):
    imported.guess_model(_other_model(files))


def _other_model(files) -> str:
  path = files / 'other.safetensors'
  st.save_file({'encoder.weight': np.zeros((2, 2), np.float32)}, str(path))
  return str(path)


@pytest.mark.slow
def test_predict_from_a_run_names_the_datasets_classes(data_dir, tmp_path):
  """--workdir: the run's own model and classes, the image resized to the
  dataset's 8x8 grey digits."""
  from configs import logreg  # pylint: disable=g-import-not-at-top
  from lib import trainer  # pylint: disable=g-import-not-at-top
  config = logreg.get_config('digits')
  config.data.data_dir = data_dir
  config.train.num_epochs, config.train.num_steps = 0.0, 5
  trainer.train_and_evaluate(config, str(tmp_path / 'run'))
  image = np.zeros((40, 40), np.uint8)
  image[8:32, 18:22] = 255  # A "1".
  Image.fromarray(image).save(tmp_path / 'one.png')
  proc = run_module('experiments.predict', f'--workdir={tmp_path / "run"}',
                    f'--image={tmp_path / "one.png"}', f'--data_dir={data_dir}')
  assert proc.returncode == 0, proc.stderr[-2000:]
  lines = proc.stdout.strip().splitlines()
  assert len(lines) == 5
  for rank, line in enumerate(lines, 1):
    assert re.fullmatch(rf'{rank} [01]\.\d{{4}} [0-9]', line), line
