"""Benchmark: VGG-19 forward time and achieved GFLOP/s at several resolutions (prints numbers; not a test).

    python benchmarks/vgg_forward.py [--sizes 256 512 1024] [--layer relu4_1] [--batch 1] [--repeats 5]

FLOPs are counted analytically (2·H·W·9·Cin·Cout per 3×3 conv, multiply-adds as 2) and cross-checked against
XLA's cost analysis; the jax matmul ceiling measured in the same run gives the fraction of peak achieved.
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp

from jaxstyle.nn.vgg import RELU_LAYERS, load_vgg19


def conv_flops(vgg, layer: str, h: int, w: int, batch: int) -> float:
    total, block = 0.0, "1"
    for name in RELU_LAYERS[: RELU_LAYERS.index(layer) + 1]:
        if name[4] != block:
            h, w, block = h // 2, w // 2, name[4]
        k = getattr(vgg, f"{name.replace('relu', 'conv')}_kernel")
        total += 2.0 * batch * h * w * k.shape[0] * k.shape[1] * k.shape[2] * k.shape[3]
    return total


def timeit(fn, *args, repeats: int) -> float:
    jax.block_until_ready(fn(*args))  # compile + warm up
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        jax.block_until_ready(fn(*args))
        best = min(best, time.perf_counter() - t)
    return best


def matmul_ceiling(n: int = 2048, repeats: int = 5) -> float:
    a = jax.random.normal(jax.random.key(0), (n, n), jnp.float32)
    f = jax.jit(lambda a: a @ a)
    return 2 * n**3 / timeit(f, a, repeats=repeats) / 1e9


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024])
    p.add_argument("--layer", default="relu4_1", choices=RELU_LAYERS)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()

    vgg = load_vgg19()
    ceiling = matmul_ceiling()
    print(f"backend={jax.default_backend()} devices={jax.device_count()} layer={args.layer} batch={args.batch}")
    print(f"jax fp32 matmul ceiling (2048^3): {ceiling:.1f} GFLOP/s")
    print(f"{'size':>6} {'ms':>9} {'GFLOP':>8} {'XLA GFLOP':>10} {'GFLOP/s':>8} {'% ceiling':>9}")
    fwd = jax.jit(lambda x: vgg(x, (args.layer,))[args.layer])
    for s in args.sizes:
        x = jax.random.uniform(jax.random.key(1), (args.batch, s, s, 3))
        t = timeit(fwd, x, repeats=args.repeats)
        flops = conv_flops(vgg, args.layer, s, s, args.batch)
        cost = fwd.lower(x).compile().cost_analysis()
        cost = cost[0] if isinstance(cost, (list, tuple)) else cost
        xla = (cost or {}).get("flops", float("nan"))
        print(f"{s:>6} {t * 1e3:>9.1f} {flops / 1e9:>8.2f} {xla / 1e9:>10.2f} {flops / t / 1e9:>8.1f} "
              f"{100 * flops / t / 1e9 / ceiling:>8.0f}%")


if __name__ == "__main__":
    main()
