r"""Runs an entry point as `python -m MODULE ARGS` does and records when its
start-up phases end: the child process of experiments/bench/startup.py.

  python -m experiments.bench.startup_probe OUT.json MODULE [ARGS...]

Nothing in the project is changed: an import hook wraps a few functions as
their modules load (lib.trainer's Run, Program and step, the data, the
checkpointer, the metrics writers) and jax's own monitoring events give the
compile / cache-load seconds. OUT.json gets, in seconds since the process
started (from /proc, else since this module loaded), each event's first
time, the total time spent importing (outermost imports) with the slowest
top-level packages (cumulative, so nested ones count in both), compile
statistics, and which of the packages a plain run must not need were loaded.
Only the first step is blocked on (to time it); every later one runs as usual.
"""
import atexit
import collections
import importlib.abc
import json
import os
import runpy
import sys
import time

# Packages no training entry point needs (scikit-learn, its scipy and pandas;
# plotting; TensorFlow and torch).
NOT_NEEDED = ('sklearn', 'scipy', 'pandas', 'matplotlib', 'tensorflow', 'torch',
              'mlxtend', 'seaborn')


def process_start() -> float:
  """The wall-clock time this process was started (exec), to 10 ms: its
  start in clock ticks since boot (/proc/self/stat) against /proc/uptime."""
  try:
    with open('/proc/uptime') as f:
      now, uptime = time.time(), float(f.read().split()[0])
    with open('/proc/self/stat') as f:
      ticks = int(f.read().rsplit(')', 1)[1].split()[19])
    return now - (uptime - ticks / os.sysconf('SC_CLK_TCK'))
  except (OSError, ValueError, IndexError):
    return time.time()


T0 = float(os.environ.get('STARTUP_PROBE_T0') or process_start())
events: dict[str, float] = {}
durations: collections.Counter = collections.Counter()
counts: collections.Counter = collections.Counter()
imports = {'depth': 0, 'start': 0.0, 'total': 0.0}
package_seconds: dict[str, float] = {}


def mark(name: str) -> None:
  events.setdefault(name, time.time() - T0)


def _timed(name: str, fn, first_only: bool = False):
  """fn, recording `name:start`/`name:end` (first call) and the total seconds
  in `name` over all calls."""
  def wrapper(*args, **kwargs):
    mark(f'{name}:start')
    t = time.perf_counter()
    try:
      return fn(*args, **kwargs)
    finally:
      durations[name] += time.perf_counter() - t
      counts[name] += 1
      mark(f'{name}:end')
  wrapper.__wrapped__ = fn
  return fn if first_only and f'{name}:end' in events else wrapper


def _patch_program(module) -> None:
  init = module.Program.__init__

  def program_init(self, *args, **kwargs):
    mark('program_build:start')
    init(self, *args, **kwargs)
    mark('program_build:end')
    step = self.step

    def first_step(*a, **k):
      out = step(*a, **k)
      if 'first_step:end' not in events:
        import jax  # pylint: disable=g-import-not-at-top
        jax.block_until_ready(out)  # Only here: later steps run as usual.
        mark('first_step:end')
        imports['at_first_step'] = imports['total']
      return out
    self.step = first_step
    self.init = _timed('state_init', self.init)
    self.eval = _timed('eval_step', self.eval)
  module.Program.__init__ = program_init
  module.Run.__init__ = _timed('run_setup', module.Run.__init__)
  module.evaluate = _timed('evaluate', module.evaluate)
  module.train = _timed('train_loop', module.train)
  from lib import records  # pylint: disable=g-import-not-at-top
  records.Records.train = _timed('records_train', records.Records.train)
  records.Records.close = _timed('records_close', records.Records.close)
  records.Records.evaluated = _timed('records_eval', records.Records.evaluated)


PATCHES = {
    'experiments.cli': lambda m: setattr(
        m, 'run', (lambda run: lambda main: run(_timed('main', main)))(m.run)),
    'lib.data.pipeline': lambda m: setattr(
        m.Data, '__init__', _timed('data', m.Data.__init__)),
    'lib.trainer': _patch_program,
    'lib.checkpointing': lambda m: (
        setattr(m.Checkpointer, 'save', _timed('checkpoint_save', m.Checkpointer.save)),
        setattr(m.Checkpointer, 'close', _timed('checkpoint_close', m.Checkpointer.close)),
        setattr(m.Checkpointer, '__init__', _timed('checkpointer_init', m.Checkpointer.__init__))),
    'lib.metrics_writer': lambda m: (
        setattr(m.MetricWriter, 'write', _timed('metrics_write', m.MetricWriter.write)),
        setattr(m.MetricWriter, '__init__', _timed('metrics_writer_init', m.MetricWriter.__init__))),
    'lib.provenance': lambda m: setattr(m, 'record', _timed('provenance', m.record)),
    'lib.accelerator': lambda m: setattr(
        m, 'check_and_announce', _timed('backend_init', m.check_and_announce)),
    'lib.compile_cache': lambda m: setattr(m, 'enable', _timed('cache_enable', m.enable)),
    'jax': lambda m: _listen_to_jax(),
}
# jax's compile events: tracing to a jaxpr, lowering it to MLIR, and XLA's
# compile or (warm cache) the executable's load from disk.
COMPILE_EVENTS = {'/jax/core/compile/jaxpr_trace_duration': 'trace',
                  '/jax/core/compile/jaxpr_to_mlir_module_duration': 'lower',
                  '/jax/core/compile/backend_compile_duration': 'compile_or_load'}
per_program: dict[str, dict[str, float]] = {}


def _listen_to_jax() -> None:
  from jax import monitoring  # pylint: disable=g-import-not-at-top

  def on_duration(event, seconds, **kwargs):
    durations[event] += seconds
    counts[event] += 1
    if event in COMPILE_EVENTS and 'first_step:end' not in events:
      name = str(kwargs.get('fun_name', '?'))
      entry = per_program.setdefault(name, {})
      entry[COMPILE_EVENTS[event]] = entry.get(COMPILE_EVENTS[event], 0.0) + seconds

  def on_event(event, **kwargs):
    del kwargs
    counts[event] += 1
  monitoring.register_event_duration_secs_listener(on_duration)
  monitoring.register_event_listener(on_event)


class _Hook(importlib.abc.MetaPathFinder):
  """Times every module's execution and patches PATCHES' modules after it."""

  def find_spec(self, name, path=None, target=None):
    for finder in sys.meta_path:
      if finder is self or not hasattr(finder, 'find_spec'):
        continue
      spec = finder.find_spec(name, path, target)
      if spec is not None:
        break
    else:
      return None
    loader = spec.loader
    if loader is None or not hasattr(loader, 'exec_module'):
      return spec
    exec_module = loader.exec_module

    def timed_exec(module):
      outer = imports['depth'] == 0
      imports['depth'] += 1
      start = time.perf_counter()
      try:
        exec_module(module)
      finally:
        imports['depth'] -= 1
        elapsed = time.perf_counter() - start
        if outer:
          imports['total'] += elapsed
        if '.' not in name:
          package_seconds[name] = package_seconds.get(name, 0.0) + elapsed
      if name in PATCHES:
        PATCHES[name](module)
    try:
      loader.exec_module = timed_exec  # This module's own loader instance.
    except AttributeError:
      pass
    return spec


def _write(out: str, module: str) -> None:
  mark('exit')
  top = sorted(package_seconds.items(), key=lambda kv: -kv[1])[:12]
  record = {
      'module': module, 'events': dict(sorted(events.items(), key=lambda kv: kv[1])),
      'durations': {k: round(v, 4) for k, v in durations.items()},
      'counts': dict(counts),
      'import_seconds': imports['total'],
      'import_seconds_to_first_step': imports.get('at_first_step'),
      'compile_before_first_step': per_program,
      'slowest_packages': {k: round(v, 4) for k, v in top},
      'not_needed_loaded': sorted(m for m in NOT_NEEDED if m in sys.modules),
  }
  with open(out, 'w') as f:
    json.dump(record, f, indent=2)


def main() -> None:
  if len(sys.argv) < 3:
    sys.exit('usage: python -m experiments.bench.startup_probe OUT.json MODULE [ARGS...]')
  out, module = sys.argv[1], sys.argv[2]
  mark('probe')
  sys.meta_path.insert(0, _Hook())
  atexit.register(_write, out, module)
  sys.argv = [module, *sys.argv[3:]]
  runpy.run_module(module, run_name='__main__', alter_sys=True)


if __name__ == '__main__':
  main()
