r"""Draws what a trained run learned into RUN/figures/ (and its TensorBoard).

  python -m experiments.visualize --workdir=runs/digits_cnn
  python -m experiments.visualize --workdir=runs/digits_cnn \
      --image=my_digit.png --invert_image

Restores the latest checkpoint and writes: the first conv layer's filters
(filters.png), feature maps of every conv/pool stage for a few test images
(feature_maps_test<N>.png) or for --image (resized to the model's input and
converted to the dataset's channels), the confusion matrix with per-class
precision/recall/F1 on the eval split (confusion_matrix.png,
classification_report.json), learning curves (learning_curves.png), and for
logistic regression and MLPs the first layer's weights as images
(first_layer_weights.png). Figures that do not apply to the model are skipped
with a note.

From imported ImageNet weights instead of a run (the lecture's picture: an
AlexNet's 64 first-layer filters of 11x11x3, and each stage's response):
  python -m experiments.visualize --init_from=alexnet-owt-7be5be79.pth \
      --image=cat.jpg --out=figures/alexnet
draws filters.png and feature_maps_<image>.png into --out (default: beside
the file, <file>_figures/); the model is found from the file's tensors, or
named with --model.
"""
from absl import flags

from experiments import cli

_WORKDIR = flags.DEFINE_string('workdir', None, 'Run directory to visualize.')
_IMAGE = flags.DEFINE_string(
    'image', None, 'An image file whose feature maps to draw, instead of '
    'test images.')
_NUM_IMAGES = flags.DEFINE_integer(
    'num_images', 4, 'Test images (of distinct classes) whose feature maps '
    'to draw.', lower_bound=1)
_INVERT = flags.DEFINE_bool(
    'invert_image', False, 'Invert --image (255 - pixel): dark ink on white '
    'paper becomes the light-on-black strokes of digits and MNIST.')
_DATA_DIR = flags.DEFINE_string(
    'data_dir', None, "Where the dataset is prepared, if not the run's "
    'config.data.data_dir (e.g. a run trained on another machine).')
_INIT_FROM, _MODEL = cli.define_imported_weights_flags('to draw instead of a run')
flags.adopt_module_key_flags(cli)  # --help lists them with this module's.
_OUT = flags.DEFINE_string(
    'out', None, 'With --init_from: the folder for the figures (default: '
    '<file>_figures beside the file).')


def main(argv):
  del argv
  if _INIT_FROM.value is not None:
    _draw_imported()
    return
  if _WORKDIR.value is None:
    cli.fail('give --workdir=RUN (a run of experiments.train) or '
             '--init_from=FILE (imported weights)')
  from lib.visualize import workdir  # pylint: disable=g-import-not-at-top
  summary = workdir.visualize(_WORKDIR.value, _IMAGE.value, _NUM_IMAGES.value,
                              _DATA_DIR.value, _INVERT.value)
  print(f'figures of the checkpoint at step {summary.step}:')
  for path in summary.figures.values():
    print(f'  {path}')
  if summary.report is not None:
    print(f"  {summary.report['split']} accuracy "
          f"{100 * summary.report['accuracy']:.2f}% on "
          f"{summary.report['num_examples']} examples; per-class scores in "
          f"{workdir.REPORT_FILE}")
  for note in summary.notes:
    print(f'note: {note}')


def _draw_imported():
  from lib.visualize import imported  # pylint: disable=g-import-not-at-top
  import os  # pylint: disable=g-import-not-at-top
  out = _OUT.value or os.path.splitext(_INIT_FROM.value)[0] + '_figures'
  written = imported.draw(_INIT_FROM.value, _IMAGE.value, out, _MODEL.value)
  print(f'figures of {_INIT_FROM.value}:')
  for path in written.values():
    print(f'  {path}')


if __name__ == '__main__':
  cli.run(main)
