"""Benchmark: the training step's gradient time for a config, e.g. the GNN's message passing with and without the
dense adjacency (prints numbers; not a test).

    python benchmarks/train_step.py [--config gnn:cpu] [--set mp_dense_max=0 ...] [--repeats 3]

Each ``--set KEY=VALUE`` (a ``config.model`` key, value as a Python literal) is one more row; the first row is the
config as is. Times ``value_and_grad`` of the model's loss on random images of the config's crop size and batch
(compiled once per row, best of ``--repeats``), and the forward alone for comparison.
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from vgg_forward import timeit  # noqa: E402  (best of `repeats` after a warm-up call)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--config", default="gnn:cpu", help="a shipped config name[:variant] or a config file")
    p.add_argument("--set", action="append", default=[], help="KEY=VALUE override of config.model (one row each)")
    p.add_argument("--repeats", type=int, default=3)
    a = p.parse_args()
    from jaxstyle import configs, runtime
    from jaxstyle.train import build_from_config, split_model

    runtime.configure()
    base = configs.load(a.config)
    n, s = int(base.data.batch_size), int(base.data.crop_size)
    rng = np.random.default_rng(0)
    x, y = (jnp.asarray(rng.random((n, s, s, 3), np.float32)) for _ in range(2))
    print(f"{a.config}: batch {n} × {s}² on {jax.devices()[0].platform} ({jax.device_count()} device(s))")
    for override in [None, *a.set]:
        cfg = configs.load(a.config)
        if override:
            key, _, value = override.partition("=")
            cfg.model[key] = ast.literal_eval(value)
        gd, params, frozen = split_model(build_from_config(cfg))

        def loss(params, frozen, x, y):
            return nnx.merge(gd, params, frozen).loss(x, y, key=jax.random.key(0))[0]

        t_grad = timeit(jax.jit(jax.value_and_grad(loss)), params, frozen, x, y, repeats=a.repeats)
        t_fwd = timeit(jax.jit(loss), params, frozen, x, y, repeats=a.repeats)
        print(f"  {override or 'as configured':<28} loss+grad {t_grad:6.2f} s   forward {t_fwd:6.2f} s", flush=True)


if __name__ == "__main__":
    main()
