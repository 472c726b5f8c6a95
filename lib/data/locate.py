"""Where a prepared TFDS dataset's version folder is in a data_dir, and, when
it is not there, which mistake was made and the command that fixes it.

TFDS lays a dataset out as DATA_DIR/NAME[/CONFIG]/VERSION/ (dataset_info.json,
features.json, the shards). Names are TFDS's own: 'mnist', 'mnist:3.0.1',
'mnist:3.*.*', 'NAME/CONFIG:VERSION', parsed by TFDS's parser. Each error is
one line: what is wrong, what IS in the data_dir (or the folder one level up
or down that holds the dataset), and the exact fix.
"""
import dataclasses
import difflib
import json
import shlex

from etils import epath
import tensorflow_datasets as tfds
from tensorflow_datasets.core import naming
from tensorflow_datasets.core.utils import version as version_lib

from lib import errors

INFO_FILE = 'dataset_info.json'
# How many names an error lists before it says "and N more".
LISTED = 12


@dataclasses.dataclass(frozen=True)
class Request:
  name: str            # 'mnist' or 'NAME/CONFIG': the path under the data_dir.
  version: str | None  # '3.0.1', a pattern such as '3.*.*', or None (newest).

  def __str__(self) -> str:
    return f'{self.name}:{self.version}' if self.version else self.name


def parse(text: str) -> Request:
  try:
    dataset, kwargs = naming.parse_builder_name_kwargs(text)
  except ValueError:
    kwargs = None
  if kwargs is None or set(kwargs) - {'config', 'version'}:
    raise errors.UserError(
        f'dataset name {text!r} is not a TFDS name; write NAME, NAME:VERSION or '
        f'NAME/CONFIG:VERSION in --config.data.name, e.g. mnist or mnist:3.0.1')
  config = kwargs.get('config')
  if config is not None and version_lib.Version.is_valid(str(config).replace('*', '0')):
    raise errors.UserError(
        f"dataset name {text!r} puts a version after '/', where TFDS reads "
        f"a config name; a version follows ':': use {_flag('name', f'{dataset}:{config}')}")
  name = str(dataset) + (f'/{config}' if config is not None else '')
  version = kwargs.get('version')
  return Request(name, str(version) if version is not None else None)


def _is_version_dir(path: epath.Path) -> bool:
  return version_lib.Version.is_valid(path.name) and (path / INFO_FILE).exists()


def _versions(root: epath.Path) -> list[str]:
  """The prepared versions in DATA_DIR/NAME, oldest first."""
  if not root.is_dir():
    return []
  return sorted((p.name for p in root.iterdir() if _is_version_dir(p)),
                key=version_lib.Version)


def _dirs(path: epath.Path) -> list[epath.Path]:
  try:
    return sorted(p for p in path.iterdir()
                  if p.is_dir() and not p.name.startswith('.'))
  except OSError:
    return []


def inventory(data_dir: epath.Path) -> list[str]:
  """'NAME:VERSION' (or 'NAME/CONFIG:VERSION') of every dataset prepared in
  data_dir."""
  found = []
  for dataset in _dirs(data_dir):
    found += [f'{dataset.name}:{v}' for v in _versions(dataset)]
    for config in _dirs(dataset):
      found += [f'{dataset.name}/{config.name}:{v}' for v in _versions(config)]
  return found


def describe(data_dir: epath.Path) -> str:
  found = inventory(data_dir)
  if not found:
    return f'{data_dir} holds no prepared dataset'
  more = f' and {len(found) - LISTED} more' if len(found) > LISTED else ''
  return f"{data_dir} holds {', '.join(found[:LISTED])}{more}"


def _flag(field: str, value: str) -> str:
  return shlex.quote(f'--config.data.{field}={value}')


def version_dir(data_dir: str, request: Request) -> epath.Path | None:
  """DATA_DIR/NAME/VERSION for the request (the newest matching version), or
  None when data_dir has nothing under that name at all (the caller may
  prepare an embedded dataset then). Raises UserError for a folder that is
  there but not as TFDS lays it out, or the wrong version."""
  root = epath.Path(data_dir) / request.name
  versions = _versions(root)
  if request.version:
    matching = [v for v in versions
                if version_lib.Version(v).match(request.version)]
  else:
    matching = versions
  if matching:
    return root / matching[-1]
  if versions:  # The dataset is there, in other versions.
    raise errors.UserError(
        f'version {request.version} of {request.name!r} is not prepared in '
        f'{data_dir}: {describe(epath.Path(data_dir))}; use '
        f'{_flag("name", f"{request.name}:{versions[-1]}")} (the newest '
        f'there; the name alone also reads the newest)')
  if (root / INFO_FILE).exists():
    _files_without_version_folder(root)
  if root.is_dir() and (configs := [c.name for c in _dirs(root) if _versions(c)]):
    raise errors.UserError(
        f'{request.name!r} in {data_dir} has configs, name one: '
        f'{describe(epath.Path(data_dir))}; e.g. '
        f'{_flag("name", f"{request.name}/{configs[0]}")}')
  return None


def _files_without_version_folder(root: epath.Path) -> None:
  """A version folder's files copied into DATA_DIR/NAME itself."""
  try:
    version = json.loads((root / INFO_FILE).read_text())['version']
  except (OSError, ValueError, KeyError):
    version = 'VERSION'
  # No command: moving a user's files is theirs to decide, once they have
  # seen the layout.
  raise errors.UserError(
      f'{root} holds the files of a version folder (dataset_info.json and '
      f'the shards) directly, but TFDS reads them from a folder named by '
      f'their version, {root}/{version}/: put them there, or prepare the '
      f'dataset again with `./launch.sh prepare {root.name} '
      f'--data_dir={shlex.quote(str(root.parent))}`')


def not_found(data_dir: str, request: Request,
              embedded=()) -> errors.UserError:
  """The error for a dataset that is not under data_dir: a name that is in
  neither TFDS's catalog nor `embedded` nor data_dir (a typo: no prepare
  would find it), the data_dir one level off, a misspelled name, or a
  dataset not prepared."""
  here = epath.Path(data_dir)
  name = request.name
  first = name.split('/')[0]
  unknown = first not in embedded and not _registered(first)
  if unknown and not here.is_dir():
    return _not_a_dataset(name, data_dir, embedded)
  if not here.is_dir():
    return errors.UserError(
        f'dataset {name!r} is not prepared: data_dir {data_dir} does not '
        f'exist; {_how_to_prepare(first, data_dir)}')
  # One level below: data_dir is DATA_DIR/NAME, or DATA_DIR/NAME/VERSION.
  if _versions(here) or (here / INFO_FILE).exists():
    is_version = (here / INFO_FILE).exists()
    dataset = here.parent if is_version else here
    what = (f'the version folder {dataset.name}:{here.name}' if is_version
            else f'the folder of the dataset {dataset.name}')
    fix = _flag('data_dir', str(dataset.parent))
    if dataset.name != first:
      fix += f' and {_flag("name", dataset.name)} if you meant it'
    return errors.UserError(
        f'data_dir {data_dir} is {what}, not a data_dir (TFDS reads '
        f'DATA_DIR/NAME/VERSION/): {describe(dataset.parent)}; use {fix}')
  # One level above: DATA_DIR/SUB/NAME/VERSION.
  below = [d for d in _dirs(here) if _versions(d / name)]
  if below:
    return errors.UserError(
        f'{name!r} is not in data_dir {data_dir} but one level below it: '
        f'{describe(below[0])}; use {_flag("data_dir", str(below[0]))}')
  names = sorted({n.split(':')[0] for n in inventory(here)})
  close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
  # A name TFDS knows is no typo: 'mnist' is not 'mnist_5k', 'cifar100' not 'cifar10'.
  if close and not _registered(first):
    wanted = f'{close[0]}:{request.version}' if request.version else close[0]
    return errors.UserError(
        f'no dataset {name!r} in {data_dir}: {describe(here)}; did you mean '
        f'{_flag("name", wanted)}?')
  if unknown:
    return _not_a_dataset(name, data_dir, embedded)
  return errors.UserError(
      f'dataset {name!r} is not prepared in {data_dir} ({describe(here)}); '
      f'{_how_to_prepare(first, data_dir)}')


def _not_a_dataset(name: str, data_dir: str, embedded) -> errors.UserError:
  """A name no prepare step could build: the closest names TFDS's catalog
  (read from the installed package: no network), the embedded datasets and
  data_dir hold."""
  first = name.split('/')[0]
  known = set(tfds.list_builders(with_community_datasets=False)) | set(embedded)
  known |= {n.split(':')[0].split('/')[0] for n in inventory(epath.Path(data_dir))}
  close = difflib.get_close_matches(first, sorted(known), n=3, cutoff=0.6)
  if close:
    others = f" (or {', '.join(close[1:])})" if close[1:] else ''
    fix = f'did you mean {_flag("name", name.replace(first, close[0], 1))}{others}?'
  else:
    fix = ('the catalog is at https://www.tensorflow.org/datasets/catalog; a '
           f'dataset of your own must be prepared into {data_dir} first')
  return errors.UserError(
      f"no dataset {first!r} in TFDS's catalog, the embedded datasets "
      f"({', '.join(sorted(embedded))}) or {data_dir}; {fix}")


def _registered(name: str) -> bool:
  # TFDS's list of its own builders first: it imports no builder module (one
  # may need TensorFlow, absent here, and would read as "not registered").
  if name in tfds.list_builders(with_community_datasets=False):
    return True
  try:
    tfds.builder_cls(name)  # A builder registered by code imported here.
  except Exception:  # pylint: disable=broad-except
    return False  # DatasetNotFoundError, or a builder module that fails to import.
  return True


def _how_to_prepare(first: str, data_dir: str) -> str:
  return (f'on a machine with internet run `./launch.sh prepare {first} '
          f'--data_dir={shlex.quote(data_dir)}` (TFDS builds it there as '
          f'array_record; elsewhere, copy DATA_DIR/{first} into {data_dir}), '
          f'or set --config.data.data_dir')
