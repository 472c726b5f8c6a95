"""XLA CPU settings that correctness and speed depend on.

jaxlib 0.12's CPU YNNPACK fusion miscompiles bfloat16 conv -> relu -> conv ->
relu -> max-pool chains: under jit the logits come out NaN or ~1e38 while the
same model un-jitted is fine (found by tests/test_training.py; float32 is
unaffected). bfloat16 runs on CPU therefore turn that fusion off. For float32
it stays on: turning it off makes no step faster beyond noise
(experiments/bench/README.md).

For speed, every run routes the convolutions and matrix products that XLA's
oneDNN rewriter accepts to oneDNN (the library PyTorch's CPU convolutions use):
LeNet-5's train step runs 2.1x faster, the other models as fast as before,
results equal to float32 rounding. A flag that XLA_FLAGS already sets is
left as the user set it. XLA reads its flags once, when the backend starts,
so entry points call this first.
"""
import os

import jax

YNN_FUSION_OFF = '--xla_cpu_experimental_ynn_fusion_type='


def ynn_fusion_off() -> bool:
  return YNN_FUSION_OFF in os.environ.get('XLA_FLAGS', '').split()


ONEDNN = ('--xla_cpu_use_onednn=true', '--xla_cpu_experimental_onednn_custom_call=true')


def prepare_for(compute_dtype: str) -> None:
  """Sets the flags a run with this compute dtype needs; before any jax use."""
  flags = os.environ.get('XLA_FLAGS', '').split()
  names = {f.split('=')[0] for f in flags}
  extra = [f for f in ONEDNN if f.split('=')[0] not in names]
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
