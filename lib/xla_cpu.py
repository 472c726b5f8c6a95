"""XLA CPU settings that correctness depends on.

jaxlib 0.12's CPU YNNPACK fusion miscompiles bfloat16 conv -> relu -> conv ->
relu -> max-pool chains: under jit the logits come out NaN or ~1e38 while the
same model un-jitted is fine (found by tests/test_training.py; float32 is
unaffected). bfloat16 runs on CPU therefore turn that fusion off. XLA reads
its flags once, when the backend starts, so entry points call this first.
"""
import os

import jax

YNN_FUSION_OFF = '--xla_cpu_experimental_ynn_fusion_type='


def ynn_fusion_off() -> bool:
  return YNN_FUSION_OFF in os.environ.get('XLA_FLAGS', '').split()


def prepare_for(compute_dtype: str) -> None:
  """Sets the flags a run with this compute dtype needs; before any jax use."""
  if compute_dtype == 'bfloat16' and not ynn_fusion_off():
    os.environ['XLA_FLAGS'] = f"{os.environ.get('XLA_FLAGS', '')} {YNN_FUSION_OFF}".strip()


def check(compute_dtype: str) -> str | None:
  """Why this process cannot run compute_dtype correctly, or None."""
  if (compute_dtype == 'bfloat16' and jax.default_backend() == 'cpu'
      and not ynn_fusion_off()):
    return ('bfloat16 on CPU needs XLA_FLAGS=' + YNN_FUSION_OFF + ' set before '
            'JAX starts (jaxlib 0.12 miscompiles bf16 conv/pool fusions); '
            'experiments.train sets it for you')
  return None
