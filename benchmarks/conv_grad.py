"""Benchmark: a 3×3 convolution's three passes on this backend — forward, input gradient, weight gradient — at
the decoder's layer shapes, against the same run's matmul ceiling (prints numbers; not a test).

    python benchmarks/conv_grad.py [--batch 4] [--size 128] [--repeats 5]

A training step's FLOP count (``flops.py``) prices every convolution at the matmul ceiling. On XLA's CPU backend
the weight gradient of a convolution over a large image (a contraction over B·H·W into a small 3×3×Cin×Cout
kernel) runs several times slower per FLOP than the forward pass; this measures by how much, per layer shape.
The decoders train their kernels; the VGG encoder is frozen, so it needs only forward and input-gradient passes.
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import numpy as np

_DN = ("NHWC", "HWIO", "NHWC")


def _conv(x: jax.Array, k: jax.Array) -> jax.Array:
    return jax.lax.conv_general_dilated(x, k, (1, 1), ((1, 1), (1, 1)), dimension_numbers=_DN)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--size", type=int, default=128, help="image side: the decoder's layers run at size/8 to size")
    p.add_argument("--repeats", type=int, default=5)
    a = p.parse_args()
    from vgg_forward import matmul_ceiling, timeit  # this folder's shared timing helpers

    ceiling = matmul_ceiling(repeats=a.repeats)
    print(f"{jax.devices()[0].platform}: float32 matmul ceiling (2048², best of {a.repeats}) {ceiling:.0f} GFLOP/s; "
          f"batch {a.batch}, {a.size} px")
    print("\n| layer (H×W, Cin → Cout) | GFLOP per pass | forward GFLOP/s | input grad | weight grad | "
          "weight grad / forward time |")
    print("|---|--:|--:|--:|--:|--:|")
    s = a.size
    shapes = [(s // 8, 512, 256), (s // 4, 256, 256), (s // 4, 256, 128), (s // 2, 128, 128), (s // 2, 128, 64),
              (s, 64, 64), (s, 64, 3)]  # the mirror decoder's convolutions (relu4_1 → RGB)
    rng = np.random.default_rng(0)
    for hw, cin, cout in shapes:
        x = jnp.asarray(rng.random((a.batch, hw, hw, cin), np.float32))
        k = jnp.asarray(rng.random((3, 3, cin, cout), np.float32) * 0.01)
        g = jnp.asarray(rng.random((a.batch, hw, hw, cout), np.float32))
        gflop = 2 * a.batch * hw * hw * 9 * cin * cout / 1e9
        fwd = jax.jit(_conv)
        dx = jax.jit(lambda x, k, g: jax.vjp(lambda x: _conv(x, k), x)[1](g)[0])
        dw = jax.jit(lambda x, k, g: jax.vjp(lambda k: _conv(x, k), k)[1](g)[0])
        t = [timeit(fwd, x, k, repeats=a.repeats), timeit(dx, x, k, g, repeats=a.repeats),
             timeit(dw, x, k, g, repeats=a.repeats)]
        rates = [gflop / v for v in t]
        print(f"| {hw}×{hw}, {cin} → {cout} | {gflop:.2f} | " + " | ".join(f"{r:.0f} ({100 * r / ceiling:.0f}%)"
                                                                       for r in rates)
              + f" | {t[2] / t[0]:.1f}× |", flush=True)


if __name__ == "__main__":
    main()
