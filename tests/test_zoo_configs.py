"""Each model-zoo config trains a few steps on a tiny dataset of its shape."""
import pytest

from configs import alexnet, lenet5, resnet
from lib import metrics_writer, trainer
from tests import fake_tfds

pytestmark = pytest.mark.slow


@pytest.fixture(scope='module')
def fake_data_dir(tmp_path_factory):
  path = str(tmp_path_factory.mktemp('fake_tfds'))
  for name in fake_tfds.SPECS:
    fake_tfds.make(name, path)
  return path


@pytest.mark.parametrize('module, arg, settings, learning_rate', [
    (lenet5, 'mnist', {}, 0.01),
    (resnet, 'cifar10', {}, 0.01),
    (resnet, 'cifar10,resnet56', {}, 0.002),  # Deeper: a smaller step stays stable.
    # Full-size ImageNet models at a small crop, to keep CPU time down.
    (alexnet, 'imagenet2012', {'image_size': 64}, 0.001),
    (resnet, 'imagenet2012', {'image_size': 64}, 0.001),
], ids=lambda x: x if isinstance(x, str) else None)
def test_config_trains_and_lowers_the_loss(fake_data_dir, tmp_path, module, arg,
                                           settings, learning_rate):
  config = module.get_config(arg)
  # 32 images: too few to hold 10% out by class, or for a 1% minival; the
  # configs' validation data is trained with in tests/test_prepare_offline.py.
  config.data.validation_fraction = 0.0
  config.data.validation_split = ''
  config.data.train_split = 'train'
  config.data.data_dir = fake_data_dir
  config.data.worker_count = 0
  config.data.update(settings)
  config.train.batch_size = 8
  config.train.num_epochs = 0.0
  config.train.num_steps = 12
  config.train.log_every_steps = 4
  config.train.checkpoint_every_steps = 12
  # 32 random images with random labels: memorising them must lower the
  # loss. A small constant rate keeps the few steps stable for every model.
  config.optimizer.schedule = 'constant'
  config.optimizer.learning_rate = learning_rate
  config.optimizer.warmup_epochs = 0.0
  results = trainer.train_and_evaluate(config, str(tmp_path))
  train = [m['loss'] for m in metrics_writer.read(str(tmp_path)) if m['split'] == 'train']
  assert len(train) == 3 and train[-1] < train[0], train
  assert results['steps'] == 12
