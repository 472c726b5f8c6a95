"""Training over 8 (forced) CPU devices equals training on one."""
import jax
import numpy as np
import pytest

from lib import checkpointing
from tests.conftest import run_module

pytestmark = pytest.mark.slow


@pytest.mark.parametrize('pipeline', ['device', 'grain'])
def test_one_device_and_eight_devices_give_the_same_parameters(
    data_dir, tmp_path, pipeline):
  params = {}
  for devices in (1, 8):
    workdir = tmp_path / f'devices{devices}'
    proc = run_module(
        'experiments.train', '--config=configs/digits_cnn.py',
        f'--workdir={workdir}', f'--config.data.data_dir={data_dir}',
        f'--config.data.pipeline={pipeline}', '--config.train.num_epochs=0',
        '--config.train.num_steps=6', '--config.train.batch_size=128',
        devices=devices)
    assert proc.returncode == 0, proc.stderr[-3000:]
    state = checkpointing.load_state(str(workdir / 'checkpoints'))
    params[devices] = state['params']
  # Dropout is on (rate 0.5) and the data is random-shifted: masks and
  # shifts must not depend on the sharding for this to hold.
  for a, b in zip(jax.tree.leaves(params[1]), jax.tree.leaves(params[8])):
    np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-6)
