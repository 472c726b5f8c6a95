"""Ablation studies: declare axes over config fields, expand them into named
runs, and run them locally or as a SLURM array (experiments/sweep.py)."""
from lib.sweeps.axes import Axes, axis, product, seeds, zip  # pylint: disable=redefined-builtin
from lib.sweeps.plan import RunSpec, Task
from lib.sweeps.spec import Sweep
from lib.sweeps.study import Study, load

__all__ = ['Axes', 'axis', 'product', 'seeds', 'zip', 'Sweep', 'RunSpec',
           'Task', 'Study', 'load']
