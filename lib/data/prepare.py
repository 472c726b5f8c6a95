"""Prepares a TFDS dataset as array_record with TFDS's own builder: what
`./launch.sh prepare NAME [--data_dir=DIR] [--manual_dir=DIR] [--download_dir=DIR]`
runs, in two environments:

  .venv-prepare/bin/python -m lib.data.prepare NAME ...           (TensorFlow)
  .venv/bin/python -m lib.data.prepare --verify NAME --data_dir=DIR   (none)

The first builds the dataset with TFDS's registered builder
(`tfds.builder(...).download_and_prepare`, what `tfds build` calls), or, when
the version is there already as tfrecord only, adds array_record files in
place with TFDS's `convert_format` (what `tfds convert_format` calls). The
second opens every split through lib/data/catalog, as training does.

We call TFDS's functions rather than its CLI so that each mistake (a name
TFDS does not know, a version or config it does not have, files it cannot
download that --manual_dir must hold) is one `error:` line with the fix,
exit 2, before anything is written. Before a build that must download, the
download hosts are tried (name resolution and one TCP connection, a few
seconds), so that offline it stops at once with what to do instead of
retrying for minutes. A failed build leaves nothing in the data_dir: TFDS builds into DATA_DIR/NAME/incomplete.*/ and renames it into
place only when it is whole (tensorflow_datasets/core/utils/file_utils.py,
`incomplete_dir`); a conversion writes its metadata last, so an interrupted
one is seen as tfrecord-only and done again. Of the download folder, a
failed build removes TFDS's unfinished downloads (`*.tmp.*`) and the folders
it made; finished downloads stay for the next try.
"""
import difflib
import os
import re
import shlex
import shutil
import socket
import sys
import threading
import urllib.parse

# TensorFlow's C++ warnings (no GPU, no Google credentials) are not ours to fix.
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

from etils import epath  # pylint: disable=g-import-not-at-top,wrong-import-position
import requests  # pylint: disable=g-import-not-at-top,wrong-import-position
import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top,wrong-import-position
from tensorflow_datasets.core.download import download_manager  # pylint: disable=g-import-not-at-top,wrong-import-position
from tensorflow_datasets.core.download import resource as resource_lib  # pylint: disable=g-import-not-at-top,wrong-import-position
from tensorflow_datasets.core.utils import version as version_lib  # pylint: disable=g-import-not-at-top,wrong-import-position

from lib import errors  # pylint: disable=wrong-import-position
from lib.data import catalog, locate  # pylint: disable=wrong-import-position

FLAGS = ('data_dir', 'manual_dir', 'download_dir')
REACH_TIMEOUT_S = 5.0  # Each of name resolution and the TCP connection.
# TFDS downloads into FINAL_NAME.tmp.<uuid4 hex>/ and renames when complete.
_TMP_DOWNLOAD = re.compile(r'\.tmp\.[0-9a-f]{32}$')
USAGE = ('./launch.sh prepare NAME [--data_dir=DIR] [--manual_dir=DIR] '
         '[--download_dir=DIR]')


def parse_args(argv: list[str]) -> tuple[str, dict[str, str]]:
  name, flags = None, {}
  for arg in argv:
    key, eq, value = arg[2:].partition('=')
    if arg.startswith('--') and key in FLAGS and eq and value:
      flags[key] = os.path.expanduser(value)  # The shell leaves '--x=~/d'.
    elif arg.startswith('-'):
      raise errors.UserError(f'prepare: unknown or empty flag {arg!r} (flags '
                             f'take "=": --data_dir=DIR); usage: {USAGE}')
    elif name is not None:
      raise errors.UserError(f'prepare takes one dataset name, got {name!r} '
                             f'and {arg!r}; usage: {USAGE}')
    else:
      name = arg
  if name is None:
    raise errors.UserError(f'prepare needs a TFDS dataset name (e.g. mnist, '
                           f'cifar10:3.0.2); usage: {USAGE}')
  return name, flags


def _builder_cls(name: str):
  # Looked up in TFDS's own registry: for a name not there, tfds.builder_cls
  # searches the community datasets on GCS (network, TensorFlow).
  known = tfds.list_builders(with_community_datasets=False)
  if name in known:
    return tfds.builder_cls(name)
  close = difflib.get_close_matches(name, known, n=3)
  hint = f"did you mean {', '.join(close)}? " if close else ''
  raise errors.UserError(
      f'TFDS has no dataset {name!r}; {hint}the names are those of '
      f'https://www.tensorflow.org/datasets/catalog (`tfds.list_builders()`)')


def _versions(cls) -> list[str]:
  return sorted({str(v) for v in [cls.VERSION, *cls.SUPPORTED_VERSIONS] if v},
                key=version_lib.Version)


def _configs(cls) -> list[str]:
  return [c.name for c in (cls.BUILDER_CONFIGS or [])]


def _versions_and_configs(cls) -> str:
  text = f"versions {', '.join(_versions(cls))}"
  return text + (f"; configs {', '.join(_configs(cls))}" if _configs(cls) else '')


def _check_request(request: locate.Request, cls) -> None:
  """A config or version the builder does not have, said before TFDS does
  (its messages run over several lines)."""
  config = request.name.partition('/')[2]
  configs = _configs(cls)
  if config and config not in configs:
    some = ', '.join(configs[:locate.LISTED]) or 'none'
    raise errors.UserError(
        f'{cls.name} has no config {config!r}; its configs: {some}'
        + (f"; e.g. ./launch.sh prepare {cls.name}/{configs[0]}" if configs else ''))
  versions = _versions(cls)
  if request.version and not any(version_lib.Version(v).match(request.version)
                                 for v in versions):
    raise errors.UserError(
        f'TFDS {tfds.__version__} builds {cls.name} in versions '
        f"{', '.join(versions)}, not {request.version}; e.g. ./launch.sh "
        f'prepare {request.name}:{versions[-1]} (the name alone builds the '
        f'default, {cls.VERSION})')


def _open_builder(name: str, cls, data_dir: str, **kwargs):
  """tfds.builder for NAME[/CONFIG][:VERSION], its mistakes as one line."""
  try:
    return tfds.builder(name, data_dir=data_dir, **kwargs)
  except (ValueError, AssertionError, KeyError) as e:
    first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    raise errors.UserError(
        f'TFDS cannot build {name!r}: {first}; {cls.name} has '
        f'{_versions_and_configs(cls)} (write NAME, NAME:VERSION or '
        f'NAME/CONFIG:VERSION)') from None


def _check_manual_dir(cls, name: str, manual_dir: str | None,
                      download_dir: str) -> None:
  """Datasets whose files TFDS cannot download (imagenet2012's tars) need
  them in manual_dir (TFDS's default: DOWNLOAD_DIR/manual)."""
  instructions = getattr(cls, 'MANUAL_DOWNLOAD_INSTRUCTIONS', None)
  if not instructions:
    return
  path = epath.Path(manual_dir or os.path.join(download_dir, 'manual'))
  if path.is_dir() and any(path.iterdir()):
    return
  said = ' '.join(instructions.split())
  where = (f'--manual_dir={shlex.quote(str(path))} is empty or missing'
           if manual_dir else 'no --manual_dir was given')
  raise errors.UserError(
      f'{name} needs files that TFDS cannot download, and {where}: put them in '
      f'a folder and pass --manual_dir=DIR (TFDS says: {said})')


def _convert_in_place(path: epath.Path) -> None:
  # One worker: convert_dataset's thread pool drops the errors of its
  # workers, and the shards of one version are converted one by one anyway.
  from tensorflow_datasets.scripts.cli import convert_format_utils  # pylint: disable=g-import-not-at-top
  convert_format_utils.convert_dataset(
      out_dir=None, out_file_format='array_record',
      dataset_version_dir=[path], num_workers=1)


def _remove_empty(path: epath.Path) -> None:
  """Removes path if it holds nothing but empty folders."""
  if not path.is_dir():
    return
  for root, _, _ in sorted(os.walk(path), key=lambda w: -len(w[0])):
    try:
      os.rmdir(root)
    except OSError:
      pass  # Not empty.


def _missing_downloads(cls, manual_dir: str | None,
                       download_dir: str) -> dict[str, str | None]:
  """{url: file name} of the builder's registered downloads that neither
  manual_dir nor TFDS's download cache holds: where TFDS's DownloadManager
  looks (_download_or_get_cache) before it goes to the network. Builders
  with manual-download instructions (imagenet2012) register the files the
  user fetches by hand, and builders without a checksums file name no URL
  before they run: for both, nothing is known to be missing."""
  if getattr(cls, 'MANUAL_DOWNLOAD_INSTRUCTIONS', None) or not cls.url_infos:
    return {}
  manual = epath.Path(manual_dir or os.path.join(download_dir, 'manual'))
  root = epath.Path(download_dir)
  missing = {}
  for url, info in cls.url_infos.items():
    if info.filename and (manual / info.filename).exists():
      continue
    names = {resource_lib.get_dl_fname(url, info.checksum),
             resource_lib.get_dl_fname(url)}
    if not any(resource_lib.is_locally_cached(folder / n)
               for folder in (root / cls.name, root) for n in names):
      missing[url] = info.filename
  return missing


def _endpoint(url: str) -> tuple[str, int]:
  """The host and port a download of url connects to (its proxy if the
  environment sets one, as requests does)."""
  proxy = requests.utils.select_proxy(url, requests.utils.get_environ_proxies(url))
  parts = urllib.parse.urlsplit(proxy if proxy else url)
  if proxy and not parts.hostname:  # 'proxy:3128' without a scheme.
    parts = urllib.parse.urlsplit(f'http://{proxy}')
  return parts.hostname, parts.port or (443 if parts.scheme == 'https' else 80)


def unreachable(host: str, port: int,
                timeout: float = REACH_TIMEOUT_S) -> str | None:
  """None if a TCP connection to host:port opens, else why not, in words.
  Name resolution runs in a thread: getaddrinfo has no timeout of its own."""
  found: list = []
  def resolve():
    try:
      found.append(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
    except OSError as e:
      found.append(e)
  thread = threading.Thread(target=resolve, daemon=True)
  thread.start()
  thread.join(timeout)
  if not found:
    return f'name resolution gave no answer within {timeout:g} s'
  if isinstance(found[0], OSError):
    return f'name resolution failed: {found[0].strerror or found[0]}'
  family, kind, proto, _, address = found[0][0]
  try:
    with socket.socket(family, kind, proto) as s:
      s.settimeout(timeout)
      s.connect(address)
  except socket.timeout:
    return f'no TCP connection to {address[0]} within {timeout:g} s'
  except OSError as e:
    return f'TCP connection to {address[0]} failed: {e.strerror or e}'
  return None


def _check_reachable(cls, name: str, data_dir: str, manual_dir: str | None,
                     download_dir: str) -> None:
  """Stops at once, with what to do offline, when a file the build must
  download comes from a host this machine cannot reach."""
  missing = _missing_downloads(cls, manual_dir, download_dir)
  for host, port in sorted({_endpoint(url) for url in missing}):
    why = unreachable(host, port)
    if why is None:
      continue
    files = sorted(f for f in missing.values() if f)
    bases = {url.rpartition('/')[0] + '/' for url in missing}
    where = (f'from {bases.pop()}' if len(bases) == 1 else
             f"(URLs: {', '.join(sorted(missing))})")
    by_hand = (f"or download {', '.join(files)} {where} into a folder and "
               f'pass --manual_dir=FOLDER'
               if len(files) == len(missing) else
               'or copy a download folder that holds its files here and '
               'pass --download_dir=FOLDER')
    raise errors.UserError(
        f'cannot download {name}: {host}:{port} is unreachable from here '
        f'({why}); offline, run `./launch.sh prepare {name}` on a machine '
        f'with network and copy the {cls.name} folder of its data_dir into '
        f'{data_dir}, {by_hand}')


def _entries(folder: str) -> set[str]:
  """Paths one and two levels down: where TFDS puts downloads
  (DOWNLOAD_DIR/[NAME/]FILE) and the folders it makes."""
  out = set()
  if os.path.isdir(folder):
    for a in os.scandir(folder):
      out.add(a.path)
      if a.is_dir(follow_symlinks=False):
        out.update(b.path for b in os.scandir(a.path))
  return out


def _remove_unfinished_downloads(download_dir: str, before: set[str]) -> None:
  """Removes the *.tmp.* download folders a failed build left (finished
  downloads stay), then the folders it made that are now empty."""
  for path in sorted(_entries(download_dir) - before, key=len, reverse=True):
    if _TMP_DOWNLOAD.search(path):
      shutil.rmtree(path, ignore_errors=True)
    else:
      _remove_empty(epath.Path(path))


def prepare(name: str, data_dir: str, manual_dir: str | None = None,
            download_dir: str | None = None) -> str:
  """Builds or converts `name` in data_dir; returns what it did."""
  request = locate.parse(name)  # A one-line error for a name TFDS cannot parse.
  if request.name in catalog.EMBEDDED:
    return f'{request.name} is embedded: it is prepared when first read'
  cls = _builder_cls(request.name.split('/')[0])
  _check_request(request, cls)
  b = _open_builder(name, cls, data_dir)  # Reads what is on disk, if anything.
  path = epath.Path(b.data_dir)
  if (path / locate.INFO_FILE).exists():
    # The folder's own info: tfds.builder's leaves out the formats that
    # convert_format added.
    on_disk = tfds.builder_from_directory(str(path)).info
    if tfds.core.FileFormat.ARRAY_RECORD in on_disk.available_file_formats():
      return f'{path} is prepared already (array_record)'
    _convert_in_place(path)
    return f'{path}: array_record files added next to the tfrecord ones'
  download_dir = download_dir or os.path.join(data_dir, 'downloads')
  _check_manual_dir(cls, request.name, manual_dir, download_dir)
  _check_reachable(cls, name, data_dir, manual_dir, download_dir)
  before = _entries(download_dir)
  # Created here, removed again if the build fails (TFDS removes its own
  # incomplete.* folder inside them).
  created = [p for p in (epath.Path(download_dir), epath.Path(b.data_dir).parent,
                         epath.Path(data_dir) / request.name.split('/')[0],
                         epath.Path(data_dir)) if not p.exists()]
  b = _open_builder(name, cls, data_dir, file_format='array_record')
  try:
    try:
      b.download_and_prepare(
          download_dir=download_dir,
          download_config=tfds.download.DownloadConfig(manual_dir=manual_dir))
    except download_manager.NonMatchingChecksumError as e:
      raise errors.UserError(
          f'a downloaded file of {name} is not the one TFDS knows '
          f'({str(e).splitlines()[0]}); replace that file with the right one, '
          f'or remove it, and run again') from None
    except requests.exceptions.RequestException as e:
      # requests' own text runs to several hundred characters of urllib3
      # reprs: the URL and the kind of failure say it.
      url = getattr(e.request, 'url', None) or 'a file'
      raise errors.UserError(
          f'downloading {name} failed ({type(e).__name__} for {url}); run it '
          f'again, or run `./launch.sh prepare {name}` on a machine with '
          f'network and copy its data_dir into {data_dir}') from None
  except BaseException:
    _remove_unfinished_downloads(download_dir, before)
    for folder in created:
      _remove_empty(folder)
    raise
  return f'{path} written by TFDS {tfds.__version__} (array_record)'


def verify(name: str, data_dir: str) -> str:
  """Opens every split through our reader, as training does."""
  b = catalog.builder(name, data_dir)
  splits = []
  for split in catalog.split_names(b):
    source = catalog.data_source(b, split)
    source[0]  # pylint: disable=pointless-statement  # Decodes one example.
    splits.append(f'{split} {len(source):,}')
  return (f"{b.info.name}:{b.info.version} read by lib/data ({', '.join(splits)}"
          f' examples); train with --config.data.data_dir={shlex.quote(data_dir)}'
          f' --config.data.name={shlex.quote(name)}')


def main(argv: list[str]) -> int:
  check = argv[:1] == ['--verify']
  try:
    name, flags = parse_args(argv[1:] if check else argv)
    data_dir = catalog.resolve_data_dir(flags.get('data_dir', ''))
    if check:
      print(verify(name, data_dir))
    else:
      tfds.disable_progress_bar()
      print(prepare(name, data_dir, flags.get('manual_dir'),
                    flags.get('download_dir')))
  except errors.UserError as e:
    print(f'error: {e}', file=sys.stderr)
    return 2
  return 0


if __name__ == '__main__':
  sys.exit(main(sys.argv[1:]))
