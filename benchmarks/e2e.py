"""End-to-end folder benchmark: jaxstyle's ``infer.py`` beside an official-style PyTorch folder loop, each run as a
whole process and timed from outside (start-up, imports, model loading, compiles and image I/O all included).

    python benchmarks/e2e.py [--methods adain,lst_r41,adaattn,gnn] [--contents 8] [--styles 4] [--size 512]
                             [--runs 1] [--out docs/e2e.md]
    python benchmarks/e2e.py --smoke --methods adain     # 2 contents × 1 style at 128 px: a quick check

Needs torch and scikit-image (``pip install torch scikit-image``; benchmark extras, not jaxstyle dependencies).
A deterministic folder of real photos (scikit-image's bundled images, centre-cropped to mixed aspect ratios, longest
side ``--size``, PNG and JPEG) and one of style images (``../shared/data/style/*.jpg`` if present, else
scikit-image's textures) are written to a temporary directory. For each method the modules of
``benchmarks/torch_official.py`` are saved in the official checkpoint layouts and converted with
``convert_official`` (as ``benchmarks/compare.py`` does), so both sides run the same weights. Then, each in its own
process:

* PyTorch, the official test scripts' loop (``--child-torch``): construct the modules and ``torch.load`` the
  checkpoints, then for every content and every style: load both with PIL, downscale (LANCZOS) so the longer side
  is at most the size, as ``infer.py --max_side/--style_size`` does (AdaAttN also rounds sides down to multiples of
  16, which its upsample-and-merge steps need; the official code rounds to 4), encode, transform, decode, clamp and
  save a PNG, under ``torch.inference_mode()``, on CUDA when torch has it (as the official scripts choose).
* jaxstyle: ``infer.py --content DIR --style DIR`` with an empty compilation cache (cold), then again with the
  cache that run filled (warm).

The GNN has no official code: its rows give jaxstyle's folder throughput with the shipped model. Times are the
median of ``--runs`` processes; ratios are jaxstyle ÷ PyTorch (below 1: jaxstyle is faster).
"""

from __future__ import annotations

import argparse
import datetime
import os
import pathlib
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any, NamedTuple

ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED_STYLES = ROOT.parent / "shared" / "data" / "style"
TORCH_METHODS = ("adain", "lst_r41", "lst_r31", "adaattn")
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "camera", "hubble_deep_field", "retina", "stereo_motorcycle")
TEXTURES = ("brick", "grass", "gravel", "immunohistochemistry")
RATIOS = ((4, 3), (3, 4), (16, 9), (1, 1), (3, 2), (2, 3), (5, 4), (9, 16))  # width : height
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
SUMMARY = re.compile(r"(\d+) compiles, (\d+) of them from the cache, ([\d.]+) s\)")


class Run(NamedTuple):
    seconds: float | None  # None: the process failed
    stats: tuple[str, str, str]  # compiles, of them from the cache, compile seconds (from infer's summary; "?")
    error: str = ""


# -- the image folders ---------------------------------------------------------------------------------------------

def _fit(img, ratio: tuple[int, int], side: int):
    """Centre-crop ``img`` ([H, W(, C)] uint8) to ``ratio`` and resize (LANCZOS) so its longer side is ``side``."""
    import numpy as np
    from PIL import Image

    img = np.asarray(img)
    img = np.repeat(img[..., None], 3, -1) if img.ndim == 2 else img[..., :3]
    (h, w), (rw, rh) = img.shape[:2], ratio
    cw, ch = min(w, h * rw // rh), min(h, w * rh // rw)
    y, x = (h - ch) // 2, (w - cw) // 2
    scale = side / max(rw, rh)
    return Image.fromarray(img[y:y + ch, x:x + cw].astype(np.uint8)).resize(
        (round(rw * scale), round(rh * scale)), Image.LANCZOS)


def make_folders(root: pathlib.Path, n: int, m: int, size: int) -> tuple[pathlib.Path, pathlib.Path]:
    """``n`` content photos and ``m`` styles at mixed aspect ratios, longest side ``size`` (deterministic)."""
    import numpy as np
    import skimage.data
    from PIL import Image

    def photo(name: str):
        img = getattr(skimage.data, name)()
        return img[0] if name == "stereo_motorcycle" else img  # (left, right, disparity)

    shared = sorted(SHARED_STYLES.glob("*.jpg"))
    style_sources = ([(p.stem, lambda p=p: np.asarray(Image.open(p).convert("RGB"))) for p in shared]
                     or [(t, getattr(skimage.data, t)) for t in TEXTURES])
    content_dir, style_dir = root / "content", root / "style"
    for folder, count, sources, shift in ((content_dir, n, [(p, lambda p=p: photo(p)) for p in PHOTOS], 0),
                                          (style_dir, m, style_sources, 3)):
        folder.mkdir(parents=True)
        for i in range(count):
            name, load = sources[i % len(sources)]
            ext = "png" if i % 2 == 0 else "jpg"
            _fit(load(), RATIOS[(i + shift) % len(RATIOS)], size).save(folder / f"{i:02d}_{name}.{ext}", quality=95)
    return content_dir, style_dir


def _images(folder: pathlib.Path) -> list[pathlib.Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


# -- the official-style PyTorch loop (its own process) ---------------------------------------------------------------

def child_torch(method: str, content_dir: str, style_dir: str, out_dir: str, weights_dir: str, size: int,
                style_size: int) -> None:
    """For every content, every style: load, resize, encode, transform, decode, clamp, save (the official loop)."""
    sys.path.insert(0, str(ROOT))
    import numpy as np
    import torch
    from PIL import Image

    from benchmarks import torch_official

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    # Construct the modules (torch's default init) without torch_official's random init and saving, then load the
    # checkpoints with torch.load, as the official scripts do.
    he, save = torch_official._he, torch.save
    torch_official._he, torch.save = (lambda module, seed: module), (lambda *args, **kwargs: None)
    try:
        official = torch_official.build(method, pathlib.Path(weights_dir))
    finally:
        torch_official._he, torch.save = he, save
    for file, module in zip(official.files, official.modules):
        module.load_state_dict(torch.load(file, map_location="cpu"))
        module.to(device).eval()
    multiple = 16 if method == "adaattn" else 1

    def load(path: pathlib.Path, side: int) -> torch.Tensor:
        with Image.open(path) as im:
            im = im.convert("RGB")
            scale = min(1.0, side / max(im.size))
            w, h = (max(multiple, round(v * scale) // multiple * multiple) for v in im.size)
            if (w, h) != im.size:
                im = im.resize((w, h), Image.LANCZOS)
            x = torch.from_numpy(np.asarray(im, dtype=np.float32) / 255)
        return x.permute(2, 0, 1).unsqueeze(0).to(device)

    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with torch.inference_mode():
        for c in _images(pathlib.Path(content_dir)):
            for s in _images(pathlib.Path(style_dir)):
                y = official.forward(load(c, size), load(s, style_size))[0].cpu()
                img = y.clamp(0, 1).mul(255).add(0.5).clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
                Image.fromarray(img).save(out / f"{c.stem}__{s.stem}.png")


# -- the parent: folders, weights, timed processes, the table ------------------------------------------------------

def _timed(cmd: list[str], out: pathlib.Path, expected: int, timeout: float, env: dict | None = None) -> Run:
    """Run ``cmd`` as a whole process, timed from outside; check it wrote ``expected`` PNGs into ``out``."""
    t = time.perf_counter()
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        return Run(None, ("?",) * 3, f"over {timeout:.0f} s")
    seconds = time.perf_counter() - t
    m = SUMMARY.search(r.stderr)
    stats = m.groups() if m else ("?", "?", "?")
    written = len(list(out.glob("*.png"))) if out.is_dir() else 0
    if r.returncode or written != expected:
        last = (r.stderr.strip().splitlines() or [f"exit status {r.returncode}"])[-1]
        return Run(None, stats, f"{written} of {expected} written: {last[:160]}")
    return Run(seconds, stats)


def bench(method: str, content_dir: pathlib.Path, style_dir: pathlib.Path, work: pathlib.Path, size: int,
          runs: int, timeout: float) -> dict[str, Any]:
    expected = len(_images(content_dir)) * len(_images(style_dir))
    weights = work / "weights"
    infer = [sys.executable, str(ROOT / "infer.py"), "--content", str(content_dir), "--style", str(style_dir),
             "--max_side", str(size), "--style_size", str(size)]
    row: dict[str, Any] = {"method": method, "images": expected, "torch": [], "cold": [], "warm": []}
    if method == "gnn":
        infer += ["--method", "gnn"]
    else:
        from benchmarks import torch_official
        from jaxstyle.weights.official import convert_official

        files = torch_official.build(method, weights).files
        converted = convert_official(method.split("_")[0], files, weights / "model.npz")
        infer += ["--method", method.split("_")[0], "--checkpoint", str(converted)]
    for i in range(runs):
        if method != "gnn":
            out = work / f"torch_{i}"
            row["torch"].append(_timed([sys.executable, __file__, "--child-torch", method, str(content_dir),
                                        str(style_dir), str(out), str(weights), str(size), str(size)],
                                       out, expected, timeout))
        cache = work / f"xla_cache_{i}"  # fresh and empty for the cold run; the warm run reuses it
        env = {**os.environ, "JAX_COMPILATION_CACHE_DIR": str(cache)}
        for kind in ("cold", "warm"):
            out = work / f"{kind}_{i}"
            row[kind].append(_timed(infer + ["--out", str(out)], out, expected, timeout, env))
    return row


def _median(runs: list[Run]) -> float | None:
    done = [r.seconds for r in runs if r.seconds is not None]
    return statistics.median(done) if done and len(done) == len(runs) else None


def _cell(runs: list[Run]) -> str:
    s = _median(runs)
    return f"{s:.1f}" if s is not None else "failed: " + next(r.error for r in runs if r.seconds is None)


def _ratio(a: float | None, b: float | None) -> str:
    return f"**{a / b:.2f}**" if a is not None and b else "—"


def table(rows: list[dict[str, Any]]) -> list[str]:
    lines = []
    official = [r for r in rows if r["method"] != "gnn"]
    if official:
        lines += ["| method | official s | jaxstyle cold s | cold ratio | jaxstyle warm s | warm ratio | "
                  "compiles (cold) | compile s (cold) | warm: compiles / from cache |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for r in official:
            t, c, w = (_median(r[k]) for k in ("torch", "cold", "warm"))
            cold, warm = r["cold"][0].stats, r["warm"][0].stats
            lines.append(f"| {r['method']} | {_cell(r['torch'])} | {_cell(r['cold'])} | {_ratio(c, t)} | "
                         f"{_cell(r['warm'])} | {_ratio(w, t)} | {cold[0]} | {cold[2]} | {warm[0]} / {warm[1]} |")
    gnn = [r for r in rows if r["method"] == "gnn"]
    if gnn:
        lines += ["", "| method (no official code) | jaxstyle cold s | cold images/min | jaxstyle warm s | "
                  "warm images/min | compiles (cold) | compile s (cold) |", "|---|---|---|---|---|---|---|"]
        for r in gnn:
            c, w = _median(r["cold"]), _median(r["warm"])
            per_min = [f"{60 * r['images'] / s:.1f}" if s else "—" for s in (c, w)]
            cold = r["cold"][0].stats
            lines.append(f"| gnn | {_cell(r['cold'])} | {per_min[0]} | {_cell(r['warm'])} | {per_min[1]} | "
                         f"{cold[0]} | {cold[2]} |")
    return lines


def _environment() -> str:
    try:
        from benchmarks.compare import _machine
        machine = _machine()
    except ImportError:
        import platform
        machine = platform.platform()
    probe = ("import jax, torch; print(f'jax {jax.__version__} on {jax.devices()[0].device_kind}, torch', "
             "torch.__version__, 'on cuda' if torch.cuda.is_available() else 'on cpu')")
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)  # keeps the GPU off this process
    return f"{machine}; {r.stdout.strip() or 'versions unknown'}"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--methods", default="adain,lst_r41,adaattn", help=f"of {', '.join((*TORCH_METHODS, 'gnn'))}")
    p.add_argument("--contents", type=int, default=8, help="content photos (N)")
    p.add_argument("--styles", type=int, default=4, help="style images (M)")
    p.add_argument("--size", type=int, default=512, help="longest side of the images, --max_side/--style_size")
    p.add_argument("--runs", type=int, default=1, help="processes per cell (the median is shown)")
    p.add_argument("--timeout", type=float, default=3600, help="seconds per process")
    p.add_argument("--smoke", action="store_true", help="2 contents × 1 style at 128 px")
    p.add_argument("--out", help="write the markdown table here")
    p.add_argument("--child-torch", nargs=7, help=argparse.SUPPRESS)  # METHOD CONTENT STYLE OUT WEIGHTS SIZE STYLE
    a = p.parse_args()
    if a.child_torch:
        *names, size, style_size = a.child_torch
        child_torch(*names, int(size), int(style_size))
        return 0
    sys.path.insert(0, str(ROOT))
    if a.smoke:
        a.contents, a.styles, a.size = 2, 1, 128
    methods = a.methods.split(",")
    unknown = [m for m in methods if m not in (*TORCH_METHODS, "gnn")]
    if unknown:
        p.error(f"--methods {','.join(unknown)}: choose from {', '.join((*TORCH_METHODS, 'gnn'))}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="jaxstyle_e2e_") as tmp:
        content_dir, style_dir = make_folders(pathlib.Path(tmp), a.contents, a.styles, a.size)
        for method in methods:
            rows.append(bench(method, content_dir, style_dir, pathlib.Path(tmp) / method, a.size, a.runs, a.timeout))
            print(table([rows[-1]])[-1], flush=True)
    lines = [f"## End-to-end folder run: {a.contents} contents × {a.styles} styles, longest side {a.size} px", "",
             f"Regenerate: `python benchmarks/e2e.py {shlex.join(sys.argv[1:])}`".rstrip() + "  ",
             f"Run {datetime.date.today().isoformat()} on {_environment()}.  ",
             f"Whole processes timed from outside (start-up, imports, model loading, compiles, image I/O), median of "
             f"{a.runs}. Official: the official test scripts' loop over `benchmarks/torch_official.py` modules; "
             "jaxstyle: `infer.py` with an empty (cold) and a filled (warm) compilation cache. Both sides run the "
             "same weights; ratios are jaxstyle ÷ official.", "", *table(rows), ""]
    text = "\n".join(lines)
    print("\n" + text)
    if a.out:
        out = pathlib.Path(a.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
        print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
