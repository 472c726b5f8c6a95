"""Train-step speed of one model at one batch size, ours next to PyTorch's.

Both steps are built, warmed up and then timed in alternating windows
(experiments/bench/timing.py). FLOPs come from XLA's cost analysis of our
compiled step and are used for both frameworks' FLOP/s, so the two rates are
comparable (same network, same work).
"""
from experiments.bench import cases, jax_steps, timing


def _side(stats: dict, batch_size: int, flops_per_step: float,
          peak_flops_per_s: float) -> dict:
  median = stats['median_s']
  rate = flops_per_step / median
  return {'step_ms': 1e3 * median, 'best_step_ms': 1e3 * stats['best_s'],
          'examples_per_s': batch_size / median,
          'gflops_per_s': rate / 1e9,
          'fraction_of_peak': rate / peak_flops_per_s if peak_flops_per_s else None,
          'windows': stats['windows'], 'timed_steps': stats['steps']}


def measure(case: cases.Case, batch_size: int, steps: int, warmup: int,
            max_seconds: float, peak_flops_per_s: float,
            torch_models=None, min_windows: int = 3) -> dict:
  """One table row; `torch_models` is the imported module or None."""
  ours = jax_steps.build(case, batch_size)
  runners = {'jax': ours.run}
  theirs = None
  if torch_models is not None:
    batch = jax_steps.synthetic_batch(batch_size, case.image_shape,
                                      case.num_classes)
    theirs = torch_models.build(case, batch_size, batch['image'], batch['label'])
    runners['torch'] = theirs.run
  stats = timing.interleaved(runners, steps, warmup=warmup,
                             max_seconds=max_seconds, min_windows=min_windows)
  h, w, c = case.image_shape
  row = {
      'model': case.name, 'about': case.about, 'registry_model': case.model['name'],
      'input': f'{h}x{w}x{c}', 'batch_size': batch_size,
      'params': ours.params,
      'flops_per_step': ours.flops_per_step,
      'flops_per_example': ours.flops_per_step / batch_size,
      'compile_s': ours.compile_s,
      'jax': _side(stats['jax'], batch_size, ours.flops_per_step, peak_flops_per_s),
      'torch': None, 'torch_params': None, 'ratio': None,
  }
  if theirs is not None:
    row['torch'] = _side(stats['torch'], batch_size, ours.flops_per_step,
                         peak_flops_per_s)
    row['torch_params'] = theirs.params
    row['ratio'] = row['jax']['examples_per_s'] / row['torch']['examples_per_s']
  return row
