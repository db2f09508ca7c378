"""Benchmark: jaxstyle beside the official PyTorch code, in one run, on the same weights (prints and writes a table).

    python benchmarks/compare.py [--methods adain,lst_r41,adaattn,gnn] [--sizes 256,512,1024] [--big-sizes 2048]
                                 [--retained-heap-sizes 512] [--runs 5] [--out docs/benchmarks.md]

For each method and content size (batch 1; the style image has the content's size, at most ``--max-style``; style
encoding included): the torch module layouts of ``benchmarks/torch_official.py`` (the official repositories' code,
random He-scaled weights) are saved, converted with ``convert-official`` and loaded by jaxstyle, so both sides run
the same weights; the GNN (no official code) runs its shipped model, jaxstyle only. Each (method, size,
framework) runs in its own process, so its peak RSS is its own: build, one warm-up call (jax: the compile), then the
median of ``--runs`` timed calls. PyTorch runs under ``torch.inference_mode()`` in NCHW and in channels_last; the
faster is compared. FLOPs are the dense work (matmuls and convolutions) each side runs: for jaxstyle counted from its
jaxpr, loops times their trips (``benchmarks/flops.py``), for PyTorch by ``torch.utils.flop_counter``. They differ
where jaxstyle computes the same function with fewer multiply-adds (a conv after a nearest upsampling runs at the
low resolution). GFLOP/s is against the fp32 matmul ceiling measured in the same run (the faster of jax and torch
on 2048² @ 2048²). ``--big-sizes`` adds larger contents for AdaAttN and the GNN (jaxstyle's bounded
attention and blocked NCC; the official AdaAttN builds an HW×HW attention matrix there).

Both frameworks allocate their large buffers afresh on every call, and glibc maps each one with new 4 KiB pages that
the kernel faults in and zero-fills; the table counts those page faults per call. ``--retained-heap-sizes`` runs
those sizes again with both sides on glibc settings that keep freed memory for reuse (:data:`RETAINED_HEAP`), so the
ratio is shown with and without that cost.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import pathlib
import platform
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
TORCH_METHODS = ("adain", "lst_r41", "adaattn")
BIG_METHODS = ("adaattn", "gnn")
# glibc settings that keep freed memory in the heap for reuse (see the module docstring).
RETAINED_HEAP = {"MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": str(2**46), "MALLOC_ARENA_MAX": "1"}


def _images(size: int, style_size: int):
    """Real photo and painting, resized to ``[1, size, size, 3]`` / ``[1, style_size, style_size, 3]`` float32."""
    sys.path.insert(0, str(ROOT))
    import jax
    import numpy as np

    import jaxstyle

    def load(path, n):
        return np.asarray(jax.image.resize(jaxstyle.load_image(path), (n, n, 3), "linear")).clip(0, 1)[None]

    return load(SHARED / "content" / "golden_gate.jpg", size), load(SHARED / "style" / "starry_night.jpg", style_size)


def _timed(call, runs: int) -> tuple[float, float, float]:
    """(first call, median of ``runs`` calls) in seconds, and the minor page faults per timed call."""
    t = time.perf_counter()
    call()
    first = time.perf_counter() - t
    times, faults = [], resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(runs):
        t = time.perf_counter()
        call()
        times.append(time.perf_counter() - t)
    return first, statistics.median(times), (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults) / runs


def _peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def child_jax(method: str, size: int, style_size: int, runs: int) -> dict:
    sys.path.insert(0, str(ROOT))
    import jax
    from flax import nnx

    import jaxstyle
    from jaxstyle.weights.official import convert_official

    c, s = _images(size, style_size)
    if method == "gnn":
        model = jaxstyle.load_pretrained("gnn")
    else:
        from benchmarks import torch_official

        with tempfile.TemporaryDirectory() as tmp:
            files = torch_official.build(method, pathlib.Path(tmp)).files
            model = jaxstyle.load_pretrained(convert_official(method.split("_")[0], files, pathlib.Path(tmp) / "m.npz"))
    from benchmarks.flops import dense_flops

    graphdef, state = nnx.split(model)
    forward = lambda st, c, s: nnx.merge(graphdef, st)(c, s)  # noqa: E731
    compiled = jax.jit(forward).lower(state, c, s).compile()
    first, median, faults = _timed(lambda: jax.block_until_ready(compiled(state, c, s)), runs)
    return {"first_s": first, "median_s": median, "faults": faults, "flops": dense_flops(forward, state, c, s),
            "peak_gb": _peak_gb()}


def child_torch(method: str, size: int, style_size: int, runs: int) -> dict:
    sys.path.insert(0, str(ROOT))
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from benchmarks import torch_official

    c, s = (torch.from_numpy(x.transpose(0, 3, 1, 2).copy()) for x in _images(size, style_size))
    out = {"threads": torch.get_num_threads()}
    with tempfile.TemporaryDirectory() as tmp:
        official = torch_official.build(method, pathlib.Path(tmp))
    with torch.inference_mode():
        with FlopCounterMode(display=False) as counter:  # convolutions and matmuls
            official.forward(c, s)
        out["flops"] = counter.get_total_flops()
        for layout in ("nchw", "channels_last"):
            if layout == "channels_last":
                for m in official.modules:
                    m.to(memory_format=torch.channels_last)
                c, s = (x.contiguous(memory_format=torch.channels_last) for x in (c, s))
            _, out[layout], out[f"{layout}_faults"] = _timed(lambda: official.forward(c, s), runs)
    out["peak_gb"] = _peak_gb()
    return out


def matmul_ceiling(n: int = 2048, runs: int = 5) -> dict:
    """fp32 ``n×n @ n×n`` GFLOP/s, jax and torch (median of ``runs`` after a warm-up)."""
    import jax
    import jax.numpy as jnp

    a = jax.random.normal(jax.random.key(0), (n, n), jnp.float32)
    f = jax.jit(lambda a: a @ a)
    out = {"jax": 2 * n**3 / _timed(lambda: f(a).block_until_ready(), runs)[1] / 1e9}
    try:
        import torch
    except ImportError:
        return out
    t = torch.randn(n, n)
    out["torch"] = 2 * n**3 / _timed(lambda: t @ t, runs)[1] / 1e9
    return out


def _run_child(framework: str, method: str, size: int, style_size: int, runs: int, timeout: float,
               retained_heap: bool = False) -> dict:
    cmd = [sys.executable, __file__, "--child", framework, method, str(size), str(style_size), "--runs", str(runs)]
    env = {**os.environ, **RETAINED_HEAP} if retained_heap else None
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=env)
    except subprocess.TimeoutExpired:
        return {"error": f"over {timeout:.0f} s"}
    if r.returncode:
        last = (r.stderr.strip().splitlines() or ["killed (out of memory?)"])[-1]
        return {"error": last[:120]}
    return json.loads(r.stdout.strip().splitlines()[-1])


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB RAM, {platform.system()} {platform.release()}"


def table(rows: list[dict], ceiling: float) -> list[str]:
    lines = ["| method | content / style | jaxstyle s | PyTorch s (NCHW / channels_last) | jaxstyle ÷ PyTorch | "
             "peak RSS GB (jaxstyle / PyTorch) | GFLOP (jaxstyle / PyTorch) | jaxstyle GFLOP/s (% of ceiling) | "
             "PyTorch GFLOP/s | page faults / call, k (jaxstyle / PyTorch) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        j, t = r["jax"], r.get("torch")
        shape = f"{r['size']}² / {r['style']}²" + (", retained heap" if r.get("retained_heap") else "")
        if "error" in j:
            lines.append(f"| {r['method']} | {shape} | failed: {j['error']} |  |  |  |  |  |  |  |")
            continue
        gflop = j["flops"] / 1e9
        jr = gflop / j["median_s"]
        cells = [r["method"], shape, f"{j['median_s']:.3f}"]
        if t is None or "error" in t:
            cells += ["no official code" if t is None else f"failed: {t['error']}", "—", f"{j['peak_gb']:.2f} / —",
                      f"{gflop:.1f}", f"{jr:.0f} ({100 * jr / ceiling:.0f}%)", "—", f"{j['faults'] / 1e3:.0f} / —"]
        else:
            layout = min(("nchw", "channels_last"), key=t.get)
            best = t[layout]
            cells += [f"{t['nchw']:.3f} / {t['channels_last']:.3f}", f"**{j['median_s'] / best:.2f}**",
                      f"{j['peak_gb']:.2f} / {t['peak_gb']:.2f}", f"{gflop:.1f} / {t['flops'] / 1e9:.1f}",
                      f"{jr:.0f} ({100 * jr / ceiling:.0f}%)", f"{t['flops'] / 1e9 / best:.0f}",
                      f"{j['faults'] / 1e3:.0f} / {t[layout + '_faults'] / 1e3:.0f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--methods", default="adain,lst_r41,adaattn,gnn")
    p.add_argument("--sizes", default="256,512,1024")
    p.add_argument("--big-sizes", default="2048", help="further sizes for adaattn and gnn ('' for none)")
    p.add_argument("--big-runs", type=int, default=1, help="--runs for the --big-sizes")
    p.add_argument("--max-style", type=int, default=1024, help="style side: the content's, at most this")
    p.add_argument("--retained-heap-sizes", default="512",
                   help="sizes run once more with both sides on a heap-retaining malloc ('' for none)")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--timeout", type=float, default=1800, help="seconds per (method, size, framework)")
    p.add_argument("--out", help="write the markdown table here (e.g. docs/benchmarks.md)")
    p.add_argument("--child", nargs=4, help=argparse.SUPPRESS)  # FRAMEWORK METHOD SIZE STYLE
    a = p.parse_args()
    if a.child:
        fw, method, size, style = a.child
        fn = child_jax if fw == "jax" else child_torch
        print(json.dumps(fn(method, int(size), int(style), a.runs)))
        return 0
    methods = a.methods.split(",")
    unknown = [m for m in methods if m not in (*TORCH_METHODS, "gnn")]
    if unknown:
        print(f"error: --methods {','.join(unknown)}: choose from {', '.join((*TORCH_METHODS, 'gnn'))}",
              file=sys.stderr)
        return 2
    ceil = matmul_ceiling()
    ceiling = max(ceil.values())
    print(f"fp32 matmul ceiling (2048³): " + ", ".join(f"{k} {v:.0f} GFLOP/s" for k, v in ceil.items()), flush=True)
    rows = []
    for method in methods:
        big = a.big_sizes.split(",") if method in BIG_METHODS and a.big_sizes else []
        retained = a.retained_heap_sizes.split(",") if method in TORCH_METHODS and a.retained_heap_sizes else []
        cells = ([(int(n), a.runs, False) for n in a.sizes.split(",")] + [(int(n), a.big_runs, False) for n in big]
                 + [(int(n), a.runs, True) for n in retained])
        for size, runs, heap in cells:
            style = min(size, a.max_style)
            row = {"method": method, "size": size, "style": style, "runs": runs, "retained_heap": heap,
                   "jax": _run_child("jax", method, size, style, runs, a.timeout, heap)}
            if method in TORCH_METHODS:
                row["torch"] = _run_child("torch", method, size, style, runs, a.timeout, heap)
            rows.append(row)
            print(table([row], ceiling)[-1], flush=True)
    import jax

    try:
        import torch
        torch_version = torch.__version__
    except ImportError:
        torch_version = "not installed"
    lines = ["# Speed and memory: jaxstyle beside the official PyTorch code", "",
             f"Regenerate: `python benchmarks/compare.py {shlex.join(sys.argv[1:])}`".rstrip() + "  ",
             f"Run {datetime.date.today().isoformat()} on {_machine()}; jax {jax.__version__} "
             f"({jax.default_backend()}), torch {torch_version}.  ",
             f"fp32 matmul ceiling: " + ", ".join(f"{k} {v:.0f} GFLOP/s" for k, v in ceil.items()) + ".", "",
             "Batch 1, style encoding included, median of "
             f"{a.runs} runs ({a.big_runs} at the big sizes) after one warm-up (jax: the compile); each cell in its "
             "own process (peak RSS is its own). "
             "PyTorch: the official module layouts (`benchmarks/torch_official.py`) under `torch.inference_mode()`; "
             "the ratio uses the faster of NCHW and channels_last. Both sides run the same weights. Page faults: "
             "minor faults per timed call. Rows marked *retained heap* run both sides with "
             + " ".join(f"`{k}={v}`" for k, v in RETAINED_HEAP.items())
             + " (glibc then reuses freed memory instead of mapping fresh pages on every call).", "",
             *table(rows, ceiling), ""]
    text = "\n".join(lines)
    if a.out:
        out = pathlib.Path(a.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
        print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
