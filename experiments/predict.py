r"""The five likeliest classes of an image, from a run or from imported weights.

  python -m experiments.predict --workdir=runs/cifar10_resnet18 --image=cat.jpg
  python -m experiments.predict --init_from=resnet18.safetensors --image=cat.jpg
  python -m experiments.predict --model=resnet18 --init_from=resnet18-f37072fd.pth \
      --image=cat.jpg

Prints one line per class: its rank, its probability (4 decimals) and its
name. The image is read as the model's evaluation reads images: for imported
ImageNet weights (and runs with data.augment='imagenet'), shorter side to
256, the centre 224x224, ImageNet's mean and std (in the model); for other
runs, resized to the dataset's image size and channels. A file that is
missing or not an image is one `error:` line.
"""
from absl import flags

from experiments import cli

_WORKDIR = flags.DEFINE_string('workdir', None, 'A run directory made by '
                               'experiments.train: its latest checkpoint.')
_INIT_FROM, _MODEL = cli.define_imported_weights_flags('instead of --workdir')
flags.adopt_module_key_flags(cli)  # --help lists them with this module's.
_IMAGE = flags.DEFINE_string('image', None, 'The image file to classify.')
_TOP = flags.DEFINE_integer('top', 5, 'How many classes to print.',
                            lower_bound=1)
_DATA_DIR = flags.DEFINE_string(
    'data_dir', None, "With --workdir: where the dataset is prepared, if not "
    "the run's config.data.data_dir (its class names come from there).")
flags.mark_flags_as_required(['image'])


def main(argv):
  del argv
  import numpy as np  # pylint: disable=g-import-not-at-top
  from lib import errors, imported, train_step  # pylint: disable=g-import-not-at-top
  if (_WORKDIR.value is None) == (_INIT_FROM.value is None):
    raise errors.UserError('give either --workdir=RUN or --init_from=FILE')
  if _INIT_FROM.value is not None:
    model, variables, _ = imported.load(_INIT_FROM.value, _MODEL.value)
    image = imported.read_image(_IMAGE.value)
    names = imported.imagenet_class_names()
  else:
    model, variables, image, names = _from_run(_WORKDIR.value, _IMAGE.value,
                                               _DATA_DIR.value)
  logits = np.asarray(model.apply(variables, train_step.to_float(image[None]),
                                  train=False))[0]
  if logits.shape[-1] == 1:  # One sigmoid output: "not k" and "k".
    logits = np.array([0.0, logits[0]])
  for rank, prob, name in imported.top_k(logits, names, _TOP.value):
    print(f'{rank} {prob:.4f} {name}')


def _from_run(workdir: str, image_path: str, data_dir: str | None):
  from lib import trainer  # pylint: disable=g-import-not-at-top
  from lib import imported  # pylint: disable=g-import-not-at-top
  from lib.visualize import workdir as runs  # pylint: disable=g-import-not-at-top
  config = runs.load_config(workdir, data_dir)
  variables, _ = runs.load_variables(workdir)
  run = trainer.Run(config)
  if config.data.augment == 'imagenet':
    image = imported.read_image(image_path, config.data.image_size,
                                run.data.spec.image_shape[-1])
  else:
    image = runs.read_image(image_path, run.data.spec.image_shape)
  return run.model, variables, image, runs.class_names(run)


if __name__ == '__main__':
  cli.run(main)
