"""Training-speed benchmark: our jitted train steps next to plain PyTorch.

Run `python -m experiments.bench --helpfull`; see experiments/bench/__main__.py.
"""
