"""The 'imagenet' recipe on JPEG bytes (lib/data/augment.py decode): the
crops it draws are the ones it drew on decoded images, seed for seed; at full
size the pixels are bitwise the same; a DCT-reduced decode only where the
crop keeps at least the output size."""
import io

import grain
import numpy as np
import pytest
from PIL import Image

from experiments.bench import imagenet_host
from lib.data import augment


def _jpeg(image: np.ndarray) -> bytes:
  buf = io.BytesIO()
  Image.fromarray(image).save(buf, 'JPEG', quality=90)
  return buf.getvalue()


def _apply(transforms, image, seed):
  ds = grain.MapDataset.source([{'image': image, 'label': 3}]).seed(seed)
  for t in transforms:
    ds = ds.random_map(t) if isinstance(t, grain.transforms.RandomMap) else ds.map(t)
  return ds[0]


@pytest.fixture(scope='module')
def jpegs():
  return imagenet_host.jpegs(8)  # 500x375 (and 375x500), quality 90.


def test_pillow_and_simplejpeg_decode_the_same_pixels(jpegs):
  for data in jpegs:
    with Image.open(io.BytesIO(data)) as image:
      np.testing.assert_array_equal(augment.decode(data), np.asarray(image))


@pytest.mark.parametrize('stage', ['train', 'eval'])
def test_bytes_give_the_crops_of_decoded_images_seed_for_seed(jpegs, stage):
  transforms = (augment.train_transforms if stage == 'train'
                else augment.eval_transforms)('imagenet', 224)
  for i, data in enumerate(jpegs):
    decoded = augment.decode(data)
    for seed in range(3):
      from_bytes = _apply(transforms, data, 10 * i + seed)
      from_pixels = _apply(transforms, decoded, 10 * i + seed)
      assert from_bytes['label'] == 3
      # 500x375 is too small for a reduced decode of a 224 crop (or the
      # 256 resize): the very same pixels.
      np.testing.assert_array_equal(from_bytes['image'], from_pixels['image'])


def test_flip_is_drawn_with_probability_one_half():
  image = np.random.default_rng(0).integers(0, 256, (40, 40, 3), np.uint8)
  crop = augment.RandomResizedCrop(40, scale=(1.0, 1.0), ratio=(1.0, 1.0), flip=True)
  flips = [np.array_equal(crop.random_map({'image': image}, np.random.default_rng(s))
                          ['image'], image[:, ::-1]) for s in range(400)]
  assert 0.4 < np.mean(flips) < 0.6


def test_reduced_decode_only_where_the_crop_keeps_the_output_size():
  assert augment._reduction((375, 500), 224) == 1
  assert augment._reduction((448, 900), 224) == 2
  assert augment._reduction((447, 900), 224) == 1
  assert augment._reduction((1800, 1800), 224) == 8
  # A large photo's big crop: decoded at 1/2 or less, the same box, pixels
  # within JPEG's rounding of the full decode's.
  big = np.asarray(Image.fromarray(imagenet_host.photos()[0]).resize((1280, 854)))
  data = _jpeg(big)
  crop = augment.RandomResizedCrop(224, scale=(0.5, 1.0))
  for seed in range(4):
    fast = crop.random_map({'image': data}, np.random.default_rng(seed))['image']
    full = crop.random_map({'image': augment.decode(data)},
                           np.random.default_rng(seed))['image']
    assert np.abs(fast.astype(int) - full).mean() < 3


def test_other_formats_are_decoded_by_pillow():
  image = np.random.default_rng(0).integers(0, 256, (30, 20, 3), np.uint8)
  buf = io.BytesIO()
  Image.fromarray(image).save(buf, 'PNG')
  np.testing.assert_array_equal(augment.decode(buf.getvalue()), image)
  out = _apply(augment.eval_transforms('imagenet', 16), buf.getvalue(), 0)
  assert out['image'].shape == (16, 16, 3)


@pytest.mark.slow
def test_the_host_rate_bench_runs(tmp_path):
  """experiments/bench/imagenet_host.py end to end, briefly (no workers)."""
  data_dir = str(tmp_path / 'tfds')
  imagenet_host.write_dataset(data_dir, 130)
  rows = imagenet_host.per_core(data_dir, seconds=0.0)
  assert rows['train after'] > 0 and rows['eval before'] > 0
  assert len(rows) == 10
  wall, cpu = imagenet_host.whole_iterator(data_dir, 0, 1)
  assert wall > 0 and cpu > 0
