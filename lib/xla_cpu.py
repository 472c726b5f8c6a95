"""XLA CPU settings that correctness and speed depend on.

jaxlib 0.12's CPU YNNPACK fusion miscompiles bfloat16 conv -> relu -> conv ->
relu -> max-pool chains: under jit the logits come out NaN or ~1e38 while the
same model un-jitted is fine (found by tests/test_training.py; float32 is
unaffected). bfloat16 runs on CPU therefore turn that fusion off. For float32
it stays on: turning it off makes no step faster beyond noise
(experiments/bench/README.md).

For speed, runs of the models whose train step oneDNN was measured to speed
up (LeNet-5 2.0x, ResNet-20 1.10x; `ONEDNN_MODELS`) route the convolutions
and matrix products that XLA's oneDNN rewriter accepts to oneDNN (the library
PyTorch's CPU convolutions use), results equal to float32 rounding. For the
others it gives nothing measurable (the digits CNN 1.00x, the digits grid's
CNN 1.02x) and costs a lot at start-up: XLA:CPU cannot serialize a program
with a oneDNN convolution (its thunk has no proto form), so such programs
never enter the persistent compilation cache (lib/compile_cache.py) and
every process compiles them again. Those runs leave oneDNN off.
Measurements: experiments/bench/README.md. A flag that XLA_FLAGS already sets
is left as the user set it. XLA reads its flags once, when the backend
starts, so entry points call this first.
"""
import os

import jax

YNN_FUSION_OFF = '--xla_cpu_experimental_ynn_fusion_type='


def ynn_fusion_off() -> bool:
  return YNN_FUSION_OFF in os.environ.get('XLA_FLAGS', '').split()


ONEDNN = ('--xla_cpu_use_onednn=true', '--xla_cpu_experimental_onednn_custom_call=true')
# Model names (prefixes) whose CPU train step is faster with oneDNN.
ONEDNN_MODELS = ('lenet5', 'resnet')


def wants_onednn(model_names) -> bool:
  """oneDNN for a process that trains these models (None: every model)."""
  if model_names is None:
    return True
  return any(str(n).startswith(ONEDNN_MODELS) for n in model_names)


def prepare_for(compute_dtype: str, model_names=None) -> None:
  """Sets the flags a run with this compute dtype and these models (None:
  any, oneDNN on as for the bench's step timings) needs; before any jax use.

  Nothing on a GPU or TPU run (launch.sh's ACCEL): these are XLA:CPU's.
  """
  if os.environ.get('ACCEL', 'cpu') not in ('', 'cpu'):
    return
  flags = os.environ.get('XLA_FLAGS', '').split()
  names = {f.split('=')[0] for f in flags}
  extra = [f for f in ONEDNN if f.split('=')[0] not in names
           ] if wants_onednn(model_names) else []
  if compute_dtype == 'bfloat16' and not ynn_fusion_off():
    extra.append(YNN_FUSION_OFF)
  if extra:
    os.environ['XLA_FLAGS'] = ' '.join(flags + extra)


def check(compute_dtype: str) -> str | None:
  """Why this process cannot run compute_dtype correctly, or None."""
  if (compute_dtype == 'bfloat16' and jax.default_backend() == 'cpu'
      and not ynn_fusion_off()):
    return ('bfloat16 on CPU needs XLA_FLAGS=' + YNN_FUSION_OFF + ' set before '
            'JAX starts (jaxlib 0.12 miscompiles bf16 conv/pool fusions); '
            'experiments.train sets it for you')
  return None
