"""Augmentation transforms: shapes, dtypes, determinism per seed, and that each
one does what its name says."""
import grain
import numpy as np
import pytest

from lib import errors
from lib.data import augment


def example(h=32, w=32, c=3, seed=0, label=7):
  image = np.random.default_rng(seed).integers(0, 256, (h, w, c), np.uint8)
  return {'image': image, 'label': label}


def apply(transforms, ex, seed=0):
  """Runs `transforms` on one example the way grain does, with grain's seeds."""
  ds = grain.MapDataset.source([ex]).seed(seed)
  for t in transforms:
    ds = ds.random_map(t) if isinstance(t, grain.transforms.RandomMap) else ds.map(t)
  return ds[0]


def rng(seed=0):
  return np.random.default_rng(seed)


# --- names -------------------------------------------------------------------


def test_none_is_empty():
  assert augment.train_transforms('none', 0) == []
  assert augment.eval_transforms('none', 0) == []


def test_unknown_name_is_a_user_error():
  with pytest.raises(errors.UserError, match="unknown augment 'autoaugment'"):
    augment.train_transforms('autoaugment', 32)
  with pytest.raises(errors.UserError, match='unknown augment'):
    augment.eval_transforms('autoaugment', 32)


def test_imagenet_needs_an_image_size():
  with pytest.raises(errors.UserError, match='image_size'):
    augment.train_transforms('imagenet', 0)


# --- CIFAR -------------------------------------------------------------------


def test_cifar_shapes_labels_and_dtype():
  ex = example()
  for seed in range(5):
    out = apply(augment.train_transforms('cifar', 0), ex, seed)
    assert out['image'].shape == (32, 32, 3)
    assert out['image'].dtype == np.uint8
    assert out['label'] == 7
  assert augment.eval_transforms('cifar', 0) == []


def test_cifar_is_deterministic_per_seed_and_varies_across_seeds():
  ex = example()
  transforms = augment.train_transforms('cifar', 0)
  np.testing.assert_array_equal(apply(transforms, ex, 3)['image'],
                                apply(transforms, ex, 3)['image'])
  outputs = {apply(transforms, ex, s)['image'].tobytes() for s in range(10)}
  assert len(outputs) > 5


def test_random_crop_is_a_window_of_the_zero_padded_image():
  ex = example(8, 8, 1)
  padded = np.pad(ex['image'], ((4, 4), (4, 4), (0, 0)))
  seen = set()
  for seed in range(30):
    out = augment.RandomCrop(0, padding=4).random_map(ex, rng(seed))['image']
    windows = [(t, l) for t in range(9) for l in range(9)
               if np.array_equal(padded[t:t + 8, l:l + 8], out)]
    assert windows
    seen.update(windows)
  assert len(seen) > 10  # Offsets really vary.


def test_random_crop_reflect_mode_has_no_zero_border():
  ex = {'image': np.full((8, 8, 3), 200, np.uint8), 'label': 0}
  crop = augment.RandomCrop(8, padding=4, mode='reflect')
  for seed in range(10):
    assert (crop.random_map(ex, rng(seed))['image'] == 200).all()


def test_flip_flips():
  ex = example(5, 7, 3)
  assert np.array_equal(augment.RandomFlip(1.0).random_map(ex, rng())['image'],
                        ex['image'][:, ::-1])
  assert np.array_equal(augment.RandomFlip(0.0).random_map(ex, rng())['image'],
                        ex['image'])
  flips = [np.array_equal(augment.RandomFlip().random_map(ex, rng(s))['image'],
                          ex['image'][:, ::-1]) for s in range(40)]
  assert 5 < sum(flips) < 35  # About half.


def test_transforms_do_not_modify_their_input():
  ex = example()
  before = ex['image'].copy()
  for t in augment.train_transforms('cifar', 0):
    t.random_map(ex, rng())
  for t in augment.train_transforms('imagenet', 16):
    t.random_map(ex, rng())
  assert np.array_equal(ex['image'], before)


# --- ImageNet ------------------------------------------------------------------


@pytest.mark.parametrize('h, w, c', [(60, 90, 3), (90, 60, 3), (40, 40, 1)])
def test_imagenet_train_shapes(h, w, c):
  ex = example(h, w, c)
  for seed in range(5):
    out = apply(augment.train_transforms('imagenet', 24), ex, seed)
    assert out['image'].shape == (24, 24, c)
    assert out['image'].dtype == np.uint8
    assert out['label'] == 7


def test_imagenet_train_is_deterministic_per_seed():
  ex = example(60, 90)
  transforms = augment.train_transforms('imagenet', 24)
  np.testing.assert_array_equal(apply(transforms, ex, 5)['image'],
                                apply(transforms, ex, 5)['image'])
  outputs = {apply(transforms, ex, s)['image'].tobytes() for s in range(10)}
  assert len(outputs) > 5


def test_random_resized_crop_boxes_respect_scale_and_ratio():
  crop = augment.RandomResizedCrop(24)
  for seed in range(200):
    top, left, h, w = crop._box(100, 150, rng(seed))
    assert 0 <= top and top + h <= 100 and 0 <= left and left + w <= 150
    assert 0.08 * 0.9 <= h * w / 15000 <= 1.0
    assert 3 / 4 * 0.9 <= w / h <= 4 / 3 * 1.1  # Rounding to whole pixels.


def test_random_resized_crop_falls_back_to_a_centre_crop():
  crop = augment.RandomResizedCrop(10, scale=(2.0, 3.0))  # Never fits.
  assert crop._box(100, 300, rng()) == (0, 83, 100, 133)  # Widest 4:3 box.
  out = crop.random_map(example(100, 300), rng())['image']
  assert out.shape == (10, 10, 3)


def test_random_resized_crop_of_the_whole_image_is_a_resize():
  # A constant image stays constant whatever the box and resampling.
  ex = {'image': np.full((50, 70, 3), 90, np.uint8), 'label': 1}
  out = augment.RandomResizedCrop(16).random_map(ex, rng())['image']
  assert (out == 90).all()


@pytest.mark.parametrize('h, w', [(300, 400), (400, 300), (256, 256)])
def test_imagenet_eval_resizes_shorter_side_then_centre_crops(h, w):
  ex = example(h, w)
  resize, crop = augment.eval_transforms('imagenet', 224)
  resized = resize.map(ex)['image']
  assert min(resized.shape[:2]) == 256
  assert max(resized.shape[:2]) == int(256 * max(h, w) / min(h, w))
  out = crop.map({'image': resized, 'label': 7})
  assert out['image'].shape == (224, 224, 3) and out['label'] == 7
  top, left = (resized.shape[0] - 224) // 2, (resized.shape[1] - 224) // 2
  np.testing.assert_array_equal(out['image'],
                                resized[top:top + 224, left:left + 224])


def test_imagenet_eval_is_deterministic_and_keeps_the_channel_axis():
  ex = example(50, 80, 1)
  transforms = augment.eval_transforms('imagenet', 32)
  a = apply(transforms, ex)['image']
  assert a.shape == (32, 32, 1)
  np.testing.assert_array_equal(a, apply(transforms, ex, seed=9)['image'])


def test_transforms_pickle_for_grain_worker_processes():
  import pickle
  for name, size in (('cifar', 0), ('imagenet', 64)):
    for t in augment.train_transforms(name, size) + augment.eval_transforms(
        name, size):
      assert type(pickle.loads(pickle.dumps(t))) is type(t)
