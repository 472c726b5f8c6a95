"""The benchmark's results as Markdown (for README) and JSON (for tools)."""
import json
import os


def _f(x, spec: str, none: str = '-') -> str:
  return none if x is None else format(x, spec)


def speed_table(rows: list[dict]) -> str:
  head = ('| model | input | batch | params | MFLOP/example | ours ms/step | '
          'ours ex/s | ours GFLOP/s | % of peak | PyTorch ms/step | '
          'PyTorch ex/s | ours / PyTorch |')
  lines = [head, '|' + '---|' * (head.count('|') - 1)]
  for r in rows:
    j, t = r['jax'], r['torch'] or {}
    lines.append(
        f"| {r['model']} | {r['input']} | {r['batch_size']} | "
        f"{r['params']:,} | {r['flops_per_example'] / 1e6:,.2f} | "
        f"{j['step_ms']:.2f} | {j['examples_per_s']:,.0f} | "
        f"{j['gflops_per_s']:.1f} | {_f(j['fraction_of_peak'], '.0%')} | "
        f"{_f(t.get('step_ms'), '.2f')} | {_f(t.get('examples_per_s'), ',.0f')} | "
        f"{_f(r['ratio'], '.2f')}{'x' if r['ratio'] is not None else ''} |")
  return '\n'.join(lines)


def _workers(r: dict) -> str:
  w = r.get('grain_workers')
  return f' ({w} worker{"s" if w != 1 else ""})' if w else ''


def pipeline_table(rows: list[dict]) -> str:
  lines = ['| dataset | input | train examples | pipeline | model | batch | '
           'synthetic ms/step | pipeline ms/step | overhead |',
           '|---|---|---|---|---|---|---|---|---|']
  for r in rows:
    lines.append(
        f"| {r['dataset']} | {r['input']} | {r['train_examples']:,} | "
        f"{r['pipeline']}{_workers(r)} | {r['model']} | {r['batch_size']} | "
        f"{r['synthetic_step_ms']:.2f} | {r['pipeline_step_ms']:.2f} | "
        f"{r['overhead_percent']:+.1f}% |")
  return '\n'.join(lines)


def environment_lines(env: dict) -> str:
  peak, tpeak = env['matmul_peak_jax'], env.get('matmul_peak_torch')
  lines = [
      f"- date {env['date']}; {env['machine']}; load average "
      f"{env['load_before'][0]:.2f} before, {env['load_after'][0]:.2f} after",
      f"- jax {env['jax_version']} ({env['jax_backend']}, "
      f"{env['jax_devices']} device), XLA_FLAGS=`{env['xla_flags'] or '(none)'}`; "
      f"XLA CPU uses its own thread pool of {env['cpu_count']} threads",
      f"- measured float32 matmul peak ({peak['n']}x{peak['n']}): "
      f"{peak['flops_per_s_best'] / 1e9:.0f} GFLOP/s through XLA (best of "
      f"{env['peak_repeats']}; median {peak['flops_per_s_median'] / 1e9:.0f})"
      + (f", {tpeak['flops_per_s_best'] / 1e9:.0f} GFLOP/s through PyTorch"
         if tpeak else ''),
  ]
  if env.get('torch'):
    t = env['torch']
    lines.append(f"- PyTorch {t['version']}: torch.set_num_threads({t['intra_op']}), "
                 f"{t['inter_op']} inter-op threads, mkldnn "
                 f"{'on' if t['mkldnn'] else 'off'}, NCHW, eager"
                 + ('; its CNN max-pools before the ReLU (--torch_pool_first)'
                    if t.get('pool_first') else ''))
  else:
    lines.append(f"- PyTorch: {env['torch_missing']}")
  lines.append('- step time: median over alternating timing windows (ours, '
               'PyTorch, ours, ...) after warm-up; FLOPs: XLA cost analysis '
               'of our whole compiled train step (forward, backward, update), '
               'used for both frameworks; % of peak against the best matmul rate')
  return '\n'.join(lines)


def markdown(env: dict, speed_rows: list[dict], pipeline_rows: list[dict]) -> str:
  parts = ['## Training speed', '', environment_lines(env), '']
  if speed_rows:
    parts += [speed_table(speed_rows), '']
  if pipeline_rows:
    parts += ['## Input pipeline overhead', '', pipeline_table(pipeline_rows), '']
  return '\n'.join(parts)


def write(out: str, env: dict, speed_rows: list[dict],
          pipeline_rows: list[dict]) -> tuple[str, str]:
  """The speed benchmark's OUT.md and OUT.json; their paths."""
  return write_files(out, markdown(env, speed_rows, pipeline_rows),
                     {'environment': env, 'train_speed': speed_rows,
                      'input_pipeline': pipeline_rows})


def write_files(out: str, text: str, record: dict) -> tuple[str, str]:
  """Writes `text` to OUT.md and `record` to OUT.json (OUT may end in .md or
  .json or neither); their paths."""
  base = out[:-3] if out.endswith('.md') else out[:-5] if out.endswith('.json') else out
  if os.path.dirname(base):
    os.makedirs(os.path.dirname(base), exist_ok=True)
  md_path, json_path = base + '.md', base + '.json'
  with open(md_path, 'w') as f:
    f.write(text)
  with open(json_path, 'w') as f:
    json.dump(record, f, indent=2)
  return md_path, json_path
