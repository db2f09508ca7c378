"""Benchmark: time and peak memory of one stylization per method and content size (prints numbers; not a test).

    python benchmarks/peers_scale.py [--method adaattn --method lst ...] [--sizes 256,512,1024,2048] [--style 512]

Each (method, size) runs in a fresh process, so its peak RSS (``ru_maxrss``) is that stylization's own: load the
model (the shipped one, else an untrained one of the same architecture: the cost does not depend on the weights),
compile and run once, then time a second run. Content and style are real photos resized to the sizes given.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import resource
import subprocess
import sys
import time
import warnings

ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"


def one(method: str, size: int, style: int) -> dict:
    sys.path.insert(0, str(ROOT))
    import jax
    import numpy as np

    import jaxstyle
    from jaxstyle import runtime

    runtime.configure()
    warnings.simplefilter("ignore")

    def img(path, n):
        x = jaxstyle.load_image(path)
        return np.asarray(jax.image.resize(x, (n, n, 3), "linear")).clip(0, 1)

    c, s = img(SHARED / "content" / "golden_gate.jpg", size), img(SHARED / "style" / "starry_night.jpg", style)
    t0 = time.perf_counter()
    jaxstyle.stylize(c, s, method=method)
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    out = jaxstyle.stylize(c, s, method=method)
    run = time.perf_counter() - t0
    assert out.shape == c.shape and np.isfinite(out).all()
    return {"method": method, "size": size, "style": style, "first_s": first, "run_s": run,
            "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--method", action="append", help="default: adaattn, lst, style_kernel")
    p.add_argument("--sizes", default="256,512,1024,2048")
    p.add_argument("--style", type=int, default=512, help="style side (px)")
    p.add_argument("--one", nargs=2, help=argparse.SUPPRESS)  # METHOD SIZE: the child process
    a = p.parse_args()
    if a.one:
        print(json.dumps(one(a.one[0], int(a.one[1]), a.style)))
        return 0
    print(f"{'method':<14} {'content':>8} {'style':>6} {'1st (compile) s':>16} {'run s':>8} {'peak RSS GB':>12}")
    for method in a.method or ["adaattn", "lst", "style_kernel"]:
        for size in map(int, a.sizes.split(",")):
            r = subprocess.run([sys.executable, __file__, "--one", method, str(size), "--style", str(a.style)],
                               capture_output=True, text=True)
            if r.returncode:
                print(f"{method:<14} {size:>7}² failed: {r.stderr.strip().splitlines()[-1:]}", flush=True)
                continue
            d = json.loads(r.stdout.strip().splitlines()[-1])
            print(f"{method:<14} {size:>7}² {a.style:>5}² {d['first_s']:>16.1f} {d['run_s']:>8.1f} "
                  f"{d['peak_rss_gb']:>12.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
