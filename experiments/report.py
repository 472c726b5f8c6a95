r"""Aggregates a study into a report: tables (Markdown, CSV) and plots (PNG).

  python -m experiments.report --study_dir=studies/digits_grid

Writes STUDY/report.md, STUDY/report.csv (one row per config, plus the
scikit-learn baselines on the same splits), STUDY/report_marginals.csv and
STUDY/plots/*.png. Missing and failed runs are listed by name; the rest are
reported.
"""
from absl import flags

from experiments import cli

_STUDY_DIR = flags.DEFINE_string('study_dir', None, 'Directory of the study.')
_TARGET = flags.DEFINE_float(
    'target_accuracy', 0.95, 'Training accuracy for "steps to reach target".')
_BASELINES = flags.DEFINE_enum(
    'baselines', 'auto', ['auto', 'yes', 'no'],
    'scikit-learn baselines on the same splits (auto: on digits only, '
    'where they take seconds).')
flags.mark_flags_as_required(['study_dir'])


def main(argv):
  del argv
  from lib import errors  # pylint: disable=g-import-not-at-top
  from lib.report import document  # pylint: disable=g-import-not-at-top
  if not 0 < _TARGET.value <= 1:
    raise errors.UserError(f'--target_accuracy={_TARGET.value} must be in (0, 1]')
  out = document.build(_STUDY_DIR.value, _TARGET.value, _BASELINES.value)
  print(out['markdown'])
  print(f"\nwrote {out['paths']['markdown']}, {out['paths']['csv']} and "
        f"{len(out['paths']['plots'])} plot(s) in {_STUDY_DIR.value}/plots")


if __name__ == '__main__':
  cli.run(main)
