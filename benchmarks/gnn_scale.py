"""Benchmark: GNN stylization time, peak memory and where the time goes, from 256² to 4096² content.

    python benchmarks/gnn_scale.py [--sizes 256 512 1024 2048 4096] [--style-size 1024] [--flops-size 512]

Each size runs in its own process (so peak RSS is per size) on random images with an untrained model (speed does
not depend on the weights). Stages are jitted and timed separately (best of ``--repeats`` after a warm-up):
encoder (content + style), scale predictor + style nodes, style→content NCC top-k, content↔content edges, message
passing + Patch2Feat, AdaIN + decoder. Content kNN costs N_c² — above ``--knn-max`` content nodes (the model's
``content_knn_max_nodes``) the model switches to spatial content edges, and the row says so. Prints one table row
per size, then XLA's FLOP count of the
whole forward at ``--flops-size`` against the jax matmul ceiling measured in the same run. Above ``--tile`` the
encoder and decoder run tile by tile (exact), and from 2048² on each stage is timed once, compile included.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

STAGES = ("encoder", "scales", "style_knn", "content_edges", "message_passing", "adain+decoder")


def _bench(fn, *args, repeats):
    """Best of ``repeats`` timed calls after a warm-up; ``repeats=0``: one call, compile time included."""
    import jax

    t = time.perf_counter()
    out = jax.block_until_ready(fn(*args))
    if repeats == 0:
        return time.perf_counter() - t, out
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        out = jax.block_until_ready(fn(*args))
        best = min(best, time.perf_counter() - t)
    return best, out


def run_one(size: int, style_size: int, repeats: int, knn_max: int, tile: int, algorithm: str) -> dict:
    import functools

    import jax
    import jax.numpy as jnp
    from flax import nnx

    from jaxstyle.ops.tiling import tiled_apply
    from jaxstyle.graph.build import content_knn_edges, knn_from_nodes, knn_windows, spatial_edges
    from jaxstyle.graph.deform import mixed_style_nodes, scale_maps
    from jaxstyle.ops.patches import feat2patch
    from jaxstyle.graph.graphs import build_graph
    from jaxstyle.graph.message_passing import propagate_fast
    from jaxstyle.models import gnn
    from jaxstyle.ops.norms import adain

    cfg = gnn.default_config()
    cfg.content_knn_max_nodes = knn_max
    cfg.knn_algorithm = algorithm
    m = gnn.build(cfg, rngs=nnx.Rngs(0))
    edges = m.content_edge_mode((size // 8) ** 2)
    p, scales = cfg.patch_size, m.scales
    content = jax.random.uniform(jax.random.key(0), (1, size, size, 3))
    style = jax.random.uniform(jax.random.key(1), (1, style_size, style_size, 3))
    t, rss = {}, {}
    graphdef, state = nnx.split(m)
    enc_j = jax.jit(lambda st, x: nnx.merge(graphdef, st).encode(x))
    dec_j = jax.jit(lambda st, f, s: nnx.merge(graphdef, st).decoder(adain(f, s)))
    if size > tile:  # encoder and decoder tile by tile (exact; bounded memory), as stylize(tile=...) does
        enc = lambda x: jnp.asarray(tiled_apply(functools.partial(enc_j, state), x, tile=tile, halo=64,  # noqa
                                                scale=1 / 8))
    else:
        enc = functools.partial(enc_j, state)
    t_c, fc = _bench(enc, content, repeats=repeats)
    t_s, fs = _bench(enc, style, repeats=repeats)
    t["encoder"] = t_c + t_s
    rss["encoder"] = _rss_gb()

    def nodes_fn(fc, fs):  # what the style kNN reads: the scale maps (gram) or the cut, mixed patches (patches)
        pi = m.scale_probs(fc, fs)
        return pi, (scale_maps(fs, scales) if algorithm == "gram" else mixed_style_nodes(fs, pi, scales, p))

    t["scales"], (pi, nodes) = _bench(jax.jit(nodes_fn), fc, fs, repeats=repeats)
    rss["scales"] = _rss_gb()
    bs = cfg.knn_block_size
    if algorithm == "gram":
        sfn = jax.jit(lambda fc, n, pi: knn_windows(fc, n, k=cfg.k, patch_size=p, dilations=scales, weights=pi,
                                                    block_size=bs))
    else:
        sfn = jax.jit(lambda fc, n, pi: knn_from_nodes(fc, n, k=cfg.k, patch_size=p, block_size=bs))
    t["style_knn"], (idx, score) = _bench(sfn, fc, nodes, pi, repeats=repeats)
    rss["style_knn"] = _rss_gb()
    del nodes
    if edges == "spatial":
        cfn = jax.jit(lambda fc: spatial_edges(fc, k=min(cfg.k_content, 8), patch_size=p))
    elif algorithm == "gram":
        cfn = jax.jit(lambda fc: content_knn_edges(fc, k=cfg.k_content, patch_size=p, block_size=bs))
    else:
        cfn = jax.jit(lambda fc: knn_from_nodes(fc, feat2patch(fc, p), k=cfg.k_content, patch_size=p,
                                                block_size=bs, exclude_self=True))
    t["content_edges"], (cidx, cscore) = _bench(cfn, fc, repeats=repeats)
    rss["content_edges"] = _rss_gb()

    def mp(fc, fs, idx, score, pi, cidx, cscore):
        sg, cg = build_graph(fc, fs, idx, score, scale_probs=pi, content_idx=cidx, content_score=cscore)
        return propagate_fast(m.layer_a, m.layer_b, sg, cg, content_hw=fc.shape[1:3], style_hw=fs.shape[1:3],
                              patch_size=p, scales=scales, chunk=cfg.mp_chunk)

    t["message_passing"], f_agg = _bench(jax.jit(mp), fc, fs, idx, score, pi, cidx, cscore, repeats=repeats)
    rss["message_passing"] = _rss_gb()
    if size > tile:
        dec = lambda f, s: tiled_apply(lambda t: dec_j(state, t, s), f, tile=tile // 8, halo=8, scale=8)  # noqa
    else:
        dec = functools.partial(dec_j, state)
    t["adain+decoder"], out = _bench(dec, f_agg, fs, repeats=repeats)
    rss["adain+decoder"] = _rss_gb()
    assert out.shape == (1, size, size, 3) and bool(jnp.isfinite(out).all())
    return {"size": size, "style": style_size, "content_edges": edges, "stages": t,
            "total": sum(t.values()), "peak_rss_gb": _rss_gb(), "rss_after": rss}


def _rss_gb() -> float:
    """Peak RSS of this process so far (GB): read after each stage, it shows which stage raised the peak."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def analytic_flops(m, size: int, style_size: int) -> dict[str, float]:
    """Multiply-adds × 2 of the forward's dense work, stage by stage (gathers and element-wise ops not counted).

    XLA's own count (printed too) misses most of it: it counts a ``lax.map`` / ``fori_loop`` body once, not once
    per iteration, and the NCC blocks and message-passing offsets run inside such loops.
    """
    cfg = m.cfg
    p2, c = cfg.patch_size ** 2, m.encoder.channels("relu4_1")
    nc, ns = (size // 8) ** 2, (style_size // 8) ** 2

    def vgg(s):  # 3x3 convs up to relu4_1
        total, hw = 0.0, s * s
        for name in ("conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1", "conv3_2", "conv3_3", "conv3_4",
                     "conv4_1"):
            if name in ("conv2_1", "conv3_1", "conv4_1"):
                hw //= 4
            k = getattr(m.encoder, f"{name}_kernel")
            total += 2.0 * hw * 9 * k.shape[2] * k.shape[3]
        return total

    dec = 0.0
    for i, conv in enumerate(m.decoder.convs):
        hw = nc * (1 if i < 1 else 4 if i < 5 else 16 if i < 7 else 64)
        dec += 2.0 * hw * 9 * conv.kernel.shape[2] * conv.kernel.shape[3]
    sp = m.scale_predictor
    scale = 0.0 if sp is None else 2.0 * ns * 9 * (sp.conv1.kernel.shape[2] * sp.conv1.kernel.shape[3]
                                                    + sp.conv2.kernel.shape[2] * sp.conv2.kernel.shape[3])
    knn_c = 2.0 * nc * (nc if m.content_edge_mode(nc) == "knn" else 0) * c * p2
    knn_s = 2.0 * nc * ns * c * p2
    if cfg.knn_algorithm == "gram":
        from jaxstyle.graph.build import knn_windows_flops

        hw, hws = (size // 8,) * 2, (style_size // 8,) * 2
        knn_s = knn_windows_flops(hw, hws, c, patch_size=cfg.patch_size, dilations=m.scales,
                                  block_size=cfg.knn_block_size)
        knn_c = knn_c and knn_windows_flops(hw, hw, c, patch_size=cfg.patch_size, block_size=cfg.knn_block_size)
    passes = 2 if cfg.aggregator == "gat" else 1  # layer B projects every offset's messages once per pass
    return {"encoder": vgg(size) + vgg(style_size), "scale predictor": scale, "style kNN": knn_s,
            "content kNN": knn_c, "message passing": passes * p2 * 2.0 * nc * c * c, "decoder": dec}


def flops_report(size: int, repeats: int, algorithm: str) -> None:
    import jax
    from flax import nnx

    from jaxstyle.models import gnn

    cfg = gnn.default_config()
    cfg.knn_algorithm = algorithm
    m = gnn.build(cfg, rngs=nnx.Rngs(0))
    graphdef, state = nnx.split(m)
    fwd = jax.jit(lambda st, c, s: nnx.merge(graphdef, st)(c, s))
    c = jax.random.uniform(jax.random.key(0), (1, size, size, 3))
    s = jax.random.uniform(jax.random.key(1), (1, size, size, 3))
    cost = fwd.lower(state, c, s).compile().cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    xla = float(cost["flops"])
    parts = analytic_flops(m, size, size)
    flops = sum(parts.values())
    t, _ = _bench(fwd, state, c, s, repeats=repeats)
    n = 2048
    a = jax.random.normal(jax.random.key(2), (n, n))
    tm, _ = _bench(jax.jit(lambda a: a @ a), a, repeats=5)
    ceiling = 2 * n**3 / tm / 1e9
    print(f"\nGNN forward at {size}² (content = style), whole model jitted: {t:.2f} s")
    print("  FLOPs by stage: " + ", ".join(f"{k} {v / 1e9:.0f} G" for k, v in parts.items())
          + f"; total {flops / 1e9:.0f} GFLOP (XLA's count, loops counted once: {xla / 1e9:.0f} G)")
    print(f"  achieved {flops / t / 1e9:.0f} GFLOP/s; jax fp32 matmul ceiling {ceiling:.0f} GFLOP/s in this run -> "
          f"{100 * flops / t / 1e9 / ceiling:.0f}% of ceiling")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024, 2048, 4096])
    ap.add_argument("--style-size", type=int, default=1024)
    ap.add_argument("--repeats", type=int, default=2, help="timed runs after a warm-up (0: one run incl. compile)")
    ap.add_argument("--big-repeats", type=int, default=0, help="--repeats for sizes of 2048 and above")
    ap.add_argument("--tile", type=int, default=1024, help="encoder/decoder tile above this size")
    ap.add_argument("--knn-max", type=int, default=128 * 128, help="content nodes above which edges are spatial")
    ap.add_argument("--flops-size", type=int, default=512, help="0 to skip")
    ap.add_argument("--knn-algorithm", default="gram", choices=("gram", "patches"), help="the model's knn_algorithm")
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one, min(args.style_size, args.one), args.repeats, args.knn_max, args.tile,
                                 args.knn_algorithm)))
        return
    import jax

    print(f"backend={jax.default_backend()}, style = min(content, {args.style_size})², k=5, p=5, scales=(1,2,3), "
          f"knn_algorithm={args.knn_algorithm}")
    print(f"{'content':>8} {'style':>6} {'edges':>8} " + " ".join(f"{s:>15}" for s in STAGES)
          + f" {'total s':>8} {'peak GB':>8}")
    for size in args.sizes:
        cmd = [sys.executable, __file__, "--one", str(size), "--style-size", str(args.style_size),
               "--repeats", str(args.repeats if size < 2048 else args.big_repeats), "--knn-max", str(args.knn_max),
               "--tile", str(args.tile), "--knn-algorithm", args.knn_algorithm]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            print(f"{size:>8} failed: {(r.stderr.strip().splitlines() or ['?'])[-1]}")
            continue
        d = json.loads(r.stdout.strip().splitlines()[-1])
        print(f"{d['size']:>8} {d['style']:>6} {d['content_edges']:>8} "
              + " ".join(f"{d['stages'][s]:>15.2f}" for s in STAGES)
              + f" {d['total']:>8.2f} {d['peak_rss_gb']:>8.2f}", flush=True)
        print(f"{'peak RSS GB after each stage':>24} " + " ".join(f"{d['rss_after'][s]:>15.2f}" for s in STAGES))
    if args.flops_size:
        flops_report(args.flops_size, args.repeats, args.knn_algorithm)


if __name__ == "__main__":
    main()
