r"""ImageNet on the host: how many images per second one core, and all cores
through grain's workers, turn from JPEG into training and evaluation crops.

  python -m experiments.bench.imagenet_host                 # prints a table
  python -m experiments.bench.imagenet_host --images=1024 --out=DIR  # + .json

It writes its own dataset first: a real TFDS array_record 'imagenet2012'
(JPEG-encoded images, as TFDS stores ImageNet) of ImageNet's typical size,
500x375 (a quarter portrait, 375x500), quality 90, cut from the two real
photographs in scikit-learn's wheel (nothing is downloaded). Then, per core
(one process, no workers):

  train   the 'imagenet' recipe's training transforms (random resized crop
          to 224, flip) from a record, as lib/data/pipeline.py runs them;
  eval    its evaluation transforms (shorter side to 256, centre 224);
  read / decode / resize   the parts: reading the encoded record; decoding
          the JPEG (Pillow, as TFDS does, and simplejpeg); resizing a
          decoded image's crop to 224 (Pillow).

'before' is the path up to this module's commit: TFDS decodes each JPEG
whole with Pillow when the record is read, then the crop is resized;
'after' is the current one: the record stays encoded and the recipe decodes
it (lib/data/augment.py decode). Then the whole grain iterator of
configs/resnet.py:imagenet2012's training data (batch 128) in-process and
with data.worker_count = every core.
"""
import argparse
import io
import json
import os
import tempfile
import time

import numpy as np
import tensorflow_datasets as tfds
from PIL import Image

SIZE, QUALITY = (375, 500), 90  # ImageNet's typical JPEG: 500x375, q90.


def photos() -> list[np.ndarray]:
  from sklearn import datasets  # pylint: disable=g-import-not-at-top
  return list(datasets.load_sample_images().images)  # Two 427x640 photos.


def jpegs(n: int, seed: int = 0) -> list[bytes]:
  """n JPEGs of 500x375 (every fourth 375x500), windows of real photos."""
  rng, sources, out = np.random.default_rng(seed), photos(), []
  for i in range(n):
    src = sources[i % len(sources)]
    h, w = SIZE if i % 4 else SIZE[::-1]
    if h > src.shape[0]:  # Portrait: upscale the photo's window.
      window = np.asarray(Image.fromarray(src).resize((640, 640 * 640 // 427)))
    else:
      window = src
    top = rng.integers(0, window.shape[0] - h + 1)
    left = rng.integers(0, window.shape[1] - w + 1)
    image = window[top:top + h, left:left + w]
    image = image[:, ::-1] if rng.random() < 0.5 else image
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buf, 'JPEG', quality=QUALITY)
    out.append(buf.getvalue())
  return out


def write_dataset(data_dir: str, n: int) -> None:
  images = {'train': jpegs(n, 0), 'validation': jpegs(max(128, n // 4), 1)}

  class Imagenet(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    VERSION = tfds.core.Version('9.9.9')

    def _info(self):
      return tfds.core.DatasetInfo(
          builder=self, features=tfds.features.FeaturesDict({
              'image': tfds.features.Image(shape=(None, None, 3),
                                           encoding_format='jpeg'),
              'label': tfds.features.ClassLabel(num_classes=1000)}),
          supervised_keys=('image', 'label'))

    def _split_generators(self, dl_manager):
      return {s: self._generate_examples(v) for s, v in images.items()}

    def _generate_examples(self, encoded):
      for i, data in enumerate(encoded):  # Bytes: TFDS stores them as they are.
        yield i, {'image': data, 'label': i % 1000}

  Imagenet.name = 'imagenet2012'
  tfds.disable_progress_bar()
  Imagenet(data_dir=data_dir, file_format='array_record').download_and_prepare()


def per_cpu_second(rows: dict, n: int, seconds: float) -> dict:
  """{name: calls of fn(i) per CPU second of this process}, the median of
  windows of 64 calls, the rows' windows taken in turn until each has had
  `seconds` of CPU time. CPU time, not wall time: one core's rate, which
  other processes' load on a shared machine does not dilute (every row
  runs in this one thread: Pillow's resize and simplejpeg use no others).
  """
  spent = dict.fromkeys(rows, 0.0)
  windows = {name: [] for name in rows}
  for fn in rows.values():
    fn(0)  # Warm-up.
  i = 1
  while todo := [name for name in rows
                 if spent[name] < seconds or len(windows[name]) < 5]:
    for name in todo:
      fn = rows[name]
      start = time.process_time()
      for k in range(64):
        fn((i + k) % n)
      took = time.process_time() - start
      spent[name] += took
      windows[name].append(64 / max(took, 1e-9))
    i += 64
  return {name: float(np.median(w)) for name, w in windows.items()}


def config(data_dir: str, worker_count: int):
  from configs import resnet  # pylint: disable=g-import-not-at-top
  c = resnet.get_config('imagenet2012')
  c.data.data_dir = data_dir
  c.data.worker_count = worker_count
  c.train.batch_size = 128
  return c


def per_core(data_dir: str, seconds: float) -> dict:
  import grain  # pylint: disable=g-import-not-at-top
  import simplejpeg  # pylint: disable=g-import-not-at-top
  from lib.data import augment, catalog, pipeline  # pylint: disable=g-import-not-at-top

  data = pipeline.Data(config(data_dir, 0).data, 128, 0)
  encoded = data.source('train')
  # Decoded whole by TFDS (with Pillow) as it is read: the path before.
  decoded = catalog.data_source(data.builder, 'train')
  n = len(encoded)
  train = augment.train_transforms('imagenet', 224)
  # Up to this module's commit the recipe flipped in a transform of its own.
  train_before = [augment.RandomResizedCrop(224), augment.RandomFlip()]
  evaluation = augment.eval_transforms('imagenet', 224)
  relabel = pipeline._Relabel(-1)  # pylint: disable=protected-access

  def pipeline_of(source, transforms):
    ds = grain.MapDataset.source(source).seed(0).map(relabel)
    for t in transforms:
      ds = ds.random_map(t) if isinstance(t, grain.transforms.RandomMap) else ds.map(t)
    return lambda i: ds[i]

  raw = [encoded[i]['image'] for i in range(n)]
  full = [np.asarray(Image.open(io.BytesIO(b)).convert('RGB')) for b in raw[:64]]

  def pil_decode(i):
    with Image.open(io.BytesIO(raw[i])) as image:
      return np.asarray(image)

  def resize(i):  # The mean training crop: about half the image, to 224.
    image = full[i % 64]
    h, w = image.shape[:2]
    return augment._resize(image, (224, 224),  # pylint: disable=protected-access
                           (w // 6, h // 6, w - w // 6, h - h // 6))

  class Seeded(grain.transforms.RandomMap):  # grain's per-example work alone.
    def random_map(self, example, rng):
      rng.random()
      return example

  crop = train[0]
  rows = {
      'train before': pipeline_of(decoded, train_before),
      'train after': pipeline_of(encoded, train),
      'eval before': pipeline_of(decoded, evaluation),
      'eval after': pipeline_of(encoded, evaluation),
      'read the encoded record': lambda i: encoded[i],
      'grain: read, relabel, seed (no transform)': pipeline_of(encoded, [Seeded()]),
      'train transform alone (on bytes)': lambda i: crop.random_map(
          {'image': raw[i]}, np.random.default_rng(i)),
      'decode: Pillow': pil_decode,
      'decode: simplejpeg': lambda i: simplejpeg.decode_jpeg(raw[i], 'RGB'),
      'resize a 2/3 x 2/3 crop to 224': resize,
  }
  return per_cpu_second(rows, n, seconds)


def whole_iterator(data_dir: str, worker_count: int, batches: int
                   ) -> tuple[float, float]:
  """(images/s in wall time, images per CPU second of this process) of the
  trainer's grain iterator. Wall time counts the workers' work too, on a
  machine others may be loading; CPU time only this process's threads
  (all the work when worker_count is 0)."""
  from lib.data import pipeline  # pylint: disable=g-import-not-at-top
  data = pipeline.Data(config(data_dir, worker_count).data, 128, 0)
  it = data.train_iterator()
  for _ in range(2 + worker_count):  # Workers started, first batches out.
    next(it)
  start, cpu = time.perf_counter(), time.process_time()
  for _ in range(batches):
    next(it)
  wall, cpu = time.perf_counter() - start, time.process_time() - cpu
  it.close()
  return batches * 128 / wall, batches * 128 / cpu


def main():
  # argparse, not absl flags: tests import this module beside others that
  # define flags of the same names.
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--images', type=int, default=768, help='JPEGs written (train split)')
  parser.add_argument('--seconds', type=float, default=3.0, help='timing per row, at least')
  parser.add_argument('--out', default='', help='folder for imagenet_host.json')
  args = parser.parse_args()
  from absl import flags  # pylint: disable=g-import-not-at-top
  flags.FLAGS.mark_as_parsed()  # grain's worker processes read absl flags.
  cores = len(os.sched_getaffinity(0))
  with tempfile.TemporaryDirectory() as tmp:
    data_dir = os.path.join(tmp, 'tfds')
    write_dataset(data_dir, args.images)
    rows = per_core(data_dir, args.seconds)
    rows['grain iterator in-process, per CPU second'] = whole_iterator(data_dir, 0, 8)[1]
    rows['grain iterator in-process, wall'] = whole_iterator(data_dir, 0, 8)[0]
    rows[f'grain iterator {cores} workers, wall'] = whole_iterator(
        data_dir, cores, 8 * cores)[0]
  print(f'ImageNet host rate, {cores} cores ({os.uname().nodename}, load '
        f'average {os.getloadavg()[0]:.1f}), '
        f'{time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}; images per CPU '
        'second (one core), then images/s of the whole iterator (wall time):')
  for name, value in rows.items():
    print(f'  {name:40s} {value:8.0f}')
  if args.out:
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, 'imagenet_host.json'), 'w') as f:
      json.dump({'cores': cores, 'images_per_s': rows}, f, indent=2)


if __name__ == '__main__':
  main()
