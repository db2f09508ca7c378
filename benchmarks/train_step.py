"""Benchmark: the trainer's step per method (the jitted ``make_train_step``: loss, gradients, Adam) — step time,
images/s, the step's FLOPs (counted from its jaxpr, ``flops.py``) and the achieved GFLOP/s against this run's
matmul ceiling, in float32 and bfloat16 — then data-parallel scaling over devices (prints numbers; not a test).

    python benchmarks/train_step.py [--methods adain,gnn] [--variant cpu] [--dtypes float32,bfloat16]
        [--devices 1,2,4] [--fake-devices 4] [--set KEY=VALUE ...] [--repeats 3]

Per-method rows run on one device at the variant's crop size and batch. Each ``--set KEY=VALUE`` (a
``config.model`` key, value as a Python literal) adds a row per method and dtype. ``--devices`` adds weak scaling
rows (the batch per device fixed, the mesh growing) for the first method; ``--fake-devices N`` splits the CPU
into N XLA devices first (they share its cores, so on a CPU this measures the sharding's overhead, not a speed-up;
on a multi-GPU host leave it out). The step time is the best of ``--repeats`` steps after the compile, each one
feeding its output state back in (the step donates it), as the trainer does.
"""

from __future__ import annotations

import argparse
import ast
import os
import sys
import time
from pathlib import Path


def _parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--methods", default="adain,adaattn,gnn,lst,style_kernel", help="comma-separated shipped configs")
    p.add_argument("--variant", default="cpu", help="config variant (tiny, cpu, paper, gpu, tpu)")
    p.add_argument("--dtypes", default="float32,bfloat16", help="comma-separated config.model.compute_dtype values")
    p.add_argument("--set", action="append", default=[], help="KEY=VALUE override of config.model (a row each)")
    p.add_argument("--devices", default="", help="comma-separated device counts for the scaling rows, e.g. 1,2,4")
    p.add_argument("--fake-devices", type=int, default=0, help="split the CPU into N XLA devices (before JAX starts)")
    p.add_argument("--batch-per-device", type=int, default=0, help="scaling rows: images per device (0: the "
                                                                    "variant's batch / the largest count)")
    p.add_argument("--repeats", type=int, default=3)
    return p.parse_args()


def measure(cfg, n_devices: int, repeats: int, flops) -> dict[str, float]:
    """Compile and time the trainer's step for ``cfg`` on ``n_devices`` → seconds, FLOPs and the bfloat16 share."""
    import jax
    import numpy as np

    from jaxstyle import parallel
    from jaxstyle.train import build_from_config, init_state, make_optimizer, make_train_step

    mesh = parallel.data_mesh(n_devices)
    n, s = int(cfg.data.batch_size), int(cfg.data.crop_size)
    parallel.check_batch(n, mesh)
    tx = make_optimizer(cfg.optim)
    graphdef, state = init_state(build_from_config(cfg), tx)
    state = parallel.replicate(state, mesh)
    rng = np.random.default_rng(0)
    batch = parallel.to_global({k: rng.random((n, s, s, 3), np.float32) for k in ("content", "style")}, mesh)
    traced = make_train_step(graphdef, tx, mesh=mesh, seed=0).trace(state, batch)
    by_dtype = flops.flops_by_dtype_of_jaxpr(traced.jaxpr)
    t = time.perf_counter()
    step = traced.lower().compile()
    state, metrics = step(state, batch)
    jax.block_until_ready(metrics)
    compile_s = time.perf_counter() - t
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        state, metrics = step(state, batch)
        jax.block_until_ready(metrics)
        best = min(best, time.perf_counter() - t)
    total = sum(by_dtype.values())
    return {"step": best, "compile": compile_s, "flops": total, "bf16": by_dtype.get("bfloat16", 0.0) / total,
            "images": n}


def main() -> None:
    a = _parse()
    if a.fake_devices:
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                                   f" --xla_force_host_platform_device_count={a.fake_devices}").strip()
    import jax
    import jax.numpy as jnp

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import flops
    from vgg_forward import timeit

    from jaxstyle import configs, runtime

    runtime.configure()
    dtypes = [d for d in a.dtypes.split(",") if d]

    def ceiling(dtype: str, n: int = 2048) -> float:
        x = jax.random.normal(jax.random.key(0), (n, n), jnp.float32).astype(dtype)
        return 2 * n ** 3 / timeit(jax.jit(lambda x: x @ x), x, repeats=5) / 1e9

    ceil = {d: ceiling(d) for d in dtypes}
    dev = jax.devices()[0]
    print(f"train step, config <method>:{a.variant} on {dev.platform} ({dev.device_kind}, {jax.device_count()} "
          f"device(s)); matmul ceiling (2048², best of 5): "
          + ", ".join(f"{d} {c:.0f} GFLOP/s" for d, c in ceil.items()), flush=True)
    print("\n| method | dtype | row | batch × px | step s | images/s | GFLOP/step | GFLOP/s | % of ceiling "
          "| FLOPs in bf16 | compile s |")
    print("|---|---|---|---|--:|--:|--:|--:|--:|--:|--:|", flush=True)
    methods = [m for m in a.methods.split(",") if m]
    for method in methods:
        for dtype in dtypes:
            for override in [None, *a.set]:
                cfg = configs.load(f"{method}:{a.variant}")
                cfg.model.compute_dtype = dtype
                if override:
                    key, _, value = override.partition("=")
                    cfg.model[key] = ast.literal_eval(value)
                r = measure(cfg, 1, a.repeats, flops)
                gflops = r["flops"] / r["step"] / 1e9
                print(f"| {method} | {dtype} | {override or 'as configured'} | {r['images']} × "
                      f"{cfg.data.crop_size}² | {r['step']:.2f} | {r['images'] / r['step']:.2f} | "
                      f"{r['flops'] / 1e9:.1f} | {gflops:.0f} | {100 * gflops / ceil[dtype]:.0f}% | "
                      f"{100 * r['bf16']:.0f}% | {r['compile']:.0f} |", flush=True)
    counts = [int(n) for n in a.devices.split(",") if n]
    if counts:
        cfg0 = configs.load(f"{methods[0]}:{a.variant}")
        per = a.batch_per_device or max(1, int(cfg0.data.batch_size) // max(counts))
        print(f"\nweak scaling, {methods[0]}:{a.variant} in {dtypes[0]}, {per} image(s) per device"
              f"{' (fake CPU devices sharing its cores)' if a.fake_devices else ''}:\n")
        print("| devices | global batch | step s | images/s | vs 1 device |")
        print("|--:|--:|--:|--:|--:|", flush=True)
        base = None
        for n in counts:
            if n > jax.device_count():
                print(f"| {n} | (only {jax.device_count()} devices; pass --fake-devices on a CPU) | | | |")
                continue
            cfg = configs.load(f"{methods[0]}:{a.variant}")
            cfg.model.compute_dtype = dtypes[0]
            cfg.data.batch_size = per * n
            r = measure(cfg, n, a.repeats, flops)
            ips = r["images"] / r["step"]
            base = base or ips / n
            print(f"| {n} | {r['images']} | {r['step']:.2f} | {ips:.2f} | {ips / (base * n):.2f}× of linear |",
                  flush=True)


if __name__ == "__main__":
    main()
