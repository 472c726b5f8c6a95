"""Restores a run directory's latest checkpoint and draws every figure.

`visualize(workdir)` writes RUN/figures/*.png (and classification_report.json)
and logs the same images to RUN/tensorboard under 'figures/...'. Figures that
do not apply to the model (filters of a model without convolutions, say) are
skipped with a note rather than an error.
"""
import dataclasses
import json
import os

import jax
import ml_collections
import numpy as np
from PIL import Image, UnidentifiedImageError

from lib import atomic, checkpointing, errors, metrics_writer, train_step
from lib import trainer
from lib.visualize import canvas, confusion, curves, feature_maps, filters
from lib.visualize import probe, weights

FIGURES_DIR = 'figures'
REPORT_FILE = 'classification_report.json'
_SCAN_BATCHES = 20  # Eval batches searched for images of distinct classes.


@dataclasses.dataclass
class Summary:
  figures: dict[str, str] = dataclasses.field(default_factory=dict)  # tag -> path
  notes: list[str] = dataclasses.field(default_factory=list)
  step: int = 0
  report: dict | None = None


def load_config(workdir: str, data_dir: str | None = None
                ) -> ml_collections.ConfigDict:
  """The run's config.json; data_dir, if given, replaces its data_dir."""
  if not os.path.isdir(workdir):
    raise errors.UserError(f'run directory {workdir} does not exist; pass the '
                           '--workdir of a run made by experiments.train')
  path = os.path.join(workdir, 'config.json')
  if not os.path.exists(path):
    raise errors.UserError(f'{workdir} has no config.json: is it a run '
                           'directory made by experiments.train?')
  try:
    with open(path) as f:
      saved = json.load(f)
    saved.pop('config_changes', None)  # lib/config_history.py: not a field.
    config = ml_collections.ConfigDict(_with_defaults(saved))
  except (OSError, ValueError, KeyError, TypeError) as e:
    raise errors.UserError(f'cannot read {path}: {e}') from None
  if data_dir is not None:
    config.data.data_dir = data_dir
  return config


def _with_defaults(saved: dict) -> dict:
  """The saved config over today's defaults.

  A run made before a config field existed (say train.grad_accum_steps) still
  loads: the field takes its default, which is what that run did.
  """
  from configs import common  # pylint: disable=g-import-not-at-top

  def merge(default, value):
    if isinstance(default, dict) and isinstance(value, dict):
      return {**default, **{k: merge(default.get(k), v) for k, v in value.items()}}
    return value

  defaults = common.base_config(saved['data']['name']).to_dict()
  defaults.pop('model', None)  # A model's settings are all in the saved one.
  return merge(defaults, saved)


def _stacked_checkpoint(workdir: str) -> tuple[str, int] | None:
  """(directory, index) of the stacked checkpoint that holds this run, for a
  seed trained in a vmapped group (lib/multi_seed.py): the group's
  checkpoints/seed=a,b,... beside the run's directory."""
  try:
    with open(os.path.join(workdir, 'config.json')) as f:
      seed = int(json.load(f)['seed'])
  except (OSError, ValueError, KeyError, TypeError):
    return None
  parent = os.path.join(os.path.dirname(os.path.abspath(workdir)), 'checkpoints')
  if not os.path.isdir(parent):
    return None
  for name in sorted(os.listdir(parent)):
    if name.startswith('seed='):
      seeds = [int(s) for s in name[len('seed='):].split(',') if s.isdigit()]
      if seed in seeds:
        return os.path.join(parent, name), seeds.index(seed)
  return None


def load_variables(workdir: str) -> tuple[dict, int]:
  """(model variables, step) of the run's latest checkpoint: its own, or its
  seed's slice of its group's stacked one."""
  directory = os.path.join(workdir, 'checkpoints')
  index = None
  if not os.path.isdir(directory) and (found := _stacked_checkpoint(workdir)):
    directory, index = found
  try:
    if not os.path.isdir(directory):
      raise FileNotFoundError(directory)
    state = checkpointing.load_state(directory)
    if index is not None:  # Every leaf has the group's seed axis first.
      state = {k: (v if k == 'step' and np.ndim(v) == 0 else
                   jax.tree.map(lambda a: a[index], v))
               for k, v in state.items()}
  except FileNotFoundError:
    raise errors.UserError(
        f'no checkpoint in {directory}: train the run first (python -m '
        f'experiments.train --workdir={workdir} ...)') from None
  except Exception as e:  # pylint: disable=broad-except
    # Orbax and tensorstore raise many types for unreadable data.
    first_line = (str(e).strip().splitlines() or [''])[0][:200]
    raise errors.UserError(f'cannot read the latest checkpoint in {directory} '
                           f'({type(e).__name__}: {first_line})') from None
  variables = {'params': state['params'], **(state.get('model_state') or {})}
  return variables, int(state['step'])


def read_image(path: str, image_shape: tuple[int, int, int],
               invert: bool = False) -> np.ndarray:
  """A file as the dataset's uint8 [h, w, c]: resized, grey or RGB.

  invert: 255 - pixels, e.g. dark ink on paper for the digits and MNIST,
  which are light strokes on black.
  """
  h, w, c = image_shape
  if c not in (1, 3):
    raise errors.UserError(f'--image: the model takes {c}-channel images; '
                           'only grey or RGB datasets take an image file')
  try:
    with Image.open(path) as pil:
      if pil.mode in ('RGBA', 'LA', 'PA') or 'transparency' in pil.info:
        # Transparent areas become white paper, not black.
        pil = Image.alpha_composite(Image.new('RGBA', pil.size, 'white'),
                                    pil.convert('RGBA'))
      pil = pil.convert('L' if c == 1 else 'RGB')
      pil = pil.resize((w, h), Image.BILINEAR)
      image = np.asarray(pil, np.uint8)
  except FileNotFoundError:
    raise errors.UserError(f'--image: no such file {path}') from None
  except (UnidentifiedImageError, OSError, ValueError) as e:
    raise errors.UserError(f'--image: cannot read {path} as an image ({e})'
                           ) from None
  if invert:
    image = 255 - image
  return image[..., None] if c == 1 else image


def class_names(run: trainer.Run) -> list[str]:
  feature = run.data.builder.info.features['label']
  names = list(getattr(feature, 'names', None) or
               [str(i) for i in range(feature.num_classes)])
  k = run.config.data.positive_class
  return names if k < 0 else [f'not {names[k]}', names[k]]


def pick_test_images(run: trainer.Run, n: int
                     ) -> tuple[np.ndarray, list[str], list[str]]:
  """Up to n eval images (distinct classes where possible), captions, keys."""
  chosen, fallback, seen, offset = [], [], set(), 0
  for b, batch in enumerate(run.data.eval_batches()):
    for i in np.flatnonzero(batch['mask']):
      label = int(batch['label'][i])
      item = (batch['image'][i], offset + i, label)
      if label not in seen and len(chosen) < n:
        seen.add(label)
        chosen.append(item)
      elif len(fallback) < n:
        fallback.append(item)
    offset += len(batch['mask'])
    if len(chosen) >= n or b + 1 >= _SCAN_BATCHES:
      break
  chosen = (chosen + fallback)[:n]
  chosen.sort(key=lambda item: item[1])
  names = class_names(run)
  split = run.config.data.test_split
  captions = [f'{split} example {index} (true class {names[label]})'
              for _, index, label in chosen]
  images = np.stack([image for image, _, _ in chosen])
  return images, captions, [f'{split}{index}' for _, index, _ in chosen]


class _Output:
  """Writes each figure as a PNG and logs it to TensorBoard."""

  def __init__(self, workdir: str, step: int, summary: Summary):
    self.dir = os.path.join(workdir, FIGURES_DIR)
    os.makedirs(self.dir, exist_ok=True)
    self.step, self.summary = step, summary
    self.writer = metrics_writer.MetricWriter(workdir)

  def add(self, name: str, image: np.ndarray) -> None:
    path = os.path.join(self.dir, f'{name}.png')
    canvas.save_png(image, path)
    self.writer.add_image(f'figures/{name}', image, self.step)
    self.summary.figures[name] = path

  def close(self):
    self.writer.close()


def visualize(workdir: str, image_path: str | None = None, num_images: int = 4,
              data_dir: str | None = None, invert_image: bool = False
              ) -> Summary:
  """Draws every figure that applies to the run; see the module docstring.

  image_path: draw the feature maps of this file (resized to the model's
  input, converted to the dataset's channels, inverted if invert_image)
  instead of those of num_images eval images of distinct classes.
  """
  config = load_config(workdir, data_dir)
  variables, step = load_variables(workdir)
  run = trainer.Run(config)  # UserError if the data or model is unavailable.
  if image_path is not None:
    image = read_image(image_path, run.data.spec.image_shape, invert_image)
  summary = Summary(step=step)
  names = class_names(run)
  what = f'{config.model.name} on {config.data.name}, step {step}'

  if image_path is not None:
    stem = ''.join(ch if ch.isalnum() or ch in '-_' else '_' for ch in
                   os.path.splitext(os.path.basename(image_path))[0])
    caption = os.path.basename(image_path) + (' (inverted)' if invert_image else '')
    images, captions, keys = image[None], [caption], [stem]
  else:
    images, captions, keys = pick_test_images(run, num_images)
  trace = probe.trace(run.model, variables,
                      np.asarray(train_step.to_float(images)))

  out = _Output(workdir, step, summary)
  try:
    _first_layer(out, trace, run, names, summary)
    _feature_maps(out, trace, images, captions, keys, names, what, summary)
    _confusion(out, run, variables, names, what, summary)
    _curves(out, workdir, run, what, summary)
  finally:
    out.close()
  if image_path is not None:
    probs = feature_maps.probabilities(trace.logits[0])
    top = int(np.argmax(probs))
    summary.notes.append(f'{image_path}: predicted class {names[top]} '
                         f'({100 * probs[top]:.1f}%)')
  return summary


def _first_layer(out, trace, run, names, summary):
  convs = trace.convs
  if convs:
    layer = convs[0]
    out.add('filters', filters.draw(layer.kernel, layer.path))
  else:
    summary.notes.append(f'filters: model {run.config.model.name!r} has no '
                         'convolution layer; skipped')
  first = trace.layers[0] if trace.layers else None
  pixels = int(np.prod(run.data.spec.image_shape))
  if (first is not None and first.kind == 'dense'
      and first.kernel.shape[0] == pixels):
    unit_names = None  # Hidden units (MLP).
    if len(trace.layers) == 1:  # Logistic regression: units are the classes.
      # One output: the binary task's logit for the positive class.
      unit_names = names if first.kernel.shape[1] > 1 else names[-1:]
    out.add('first_layer_weights', weights.draw(
        first.kernel, run.data.spec.image_shape, first.path, unit_names))
  elif not convs:
    summary.notes.append('first_layer_weights: the first layer is not dense '
                         'on the pixels; skipped')


def _feature_maps(out, trace, images, captions, keys, names, what, summary):
  if not trace.stages:
    summary.notes.append('feature maps: the model has no conv or pooling '
                         'stage; skipped')
    return
  for i, (caption, key) in enumerate(zip(captions, keys)):
    out.add(f'feature_maps_{key}', feature_maps.draw(
        images[i], trace.stages, i, trace.logits[i], names,
        f'Feature maps of {what}: {caption}'))


def _confusion(out, run, variables, names, what, summary):
  labels, preds = confusion.predict(run.model, variables,
                                    run.data.eval_batches())
  report = confusion.classification_report(labels, preds, names)
  split = run.config.data.test_split
  report = {'split': split, 'step': out.step, **report}
  _write_report(os.path.join(out.dir, REPORT_FILE), report)
  summary.report = report
  out.add('confusion_matrix', confusion.draw(report, f'{what}, {split!r} split'))


def _write_report(path: str, report: dict) -> None:
  """JSON with one line per confusion-matrix row, so it reads as a matrix."""
  rows = [json.dumps(row) for row in report['confusion_matrix']]
  text = json.dumps({**report, 'confusion_matrix': rows}, indent=2)
  for row in rows:
    text = text.replace(json.dumps(row), row, 1)
  with atomic.replacing(path) as f:
    f.write(text + '\n')


def _curves(out, workdir, run, what, summary):
  records = metrics_writer.read(workdir)
  if not records:
    summary.notes.append(f'learning curves: {workdir} has no '
                         f'{metrics_writer.METRICS_FILE}; skipped')
    return
  out.add('learning_curves', curves.draw(
      records, f'Learning curves: {what}', run.data.steps_per_epoch))
