"""Export inference weights from a training workdir: ``python -m jaxstyle.export WORKDIR --out model.npz``.

The file holds the trainable parameters (float16 by default: half the size, and the decoders' outputs change by
< 1/255; ``--dtype int8``: weight matrices quantized per output channel, half again, for the larger models) plus
metadata: method, model config, training step and the VGG-19 encoder's identity. ``infer.py --checkpoint`` and
:func:`jaxstyle.load_pretrained` read it with NumPy only.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys

import numpy as np
from absl import logging

from jaxstyle import logs

FORMAT = "jaxstyle-weights/1"
DTYPES = ("float16", "float32", "int8")


def export(workdir: str | os.PathLike, out: str | os.PathLike, *, dtype: str = "float16",
           overwrite: bool = False) -> pathlib.Path:
    """Write the latest checkpoint of ``workdir`` (or the one of a ``WORKDIR/checkpoints/<step>`` folder) as an
    inference ``.npz``; returns its path.

    Raises:
      FileNotFoundError: no finished checkpoint. ValueError: ``out`` exists (without ``overwrite``), bad dtype.
    """
    from jaxstyle.checkpoint import latest_step, restore_params
    from jaxstyle.params import flatten, quantize_int8, write_npz
    from jaxstyle.weights.store import default_vgg_path, load_vgg_npz

    if dtype not in DTYPES:
        raise ValueError(f"--dtype {dtype!r}: use one of {', '.join(DTYPES)}")
    params, config = restore_params(workdir)
    _, vgg_meta = load_vgg_npz(default_vgg_path())
    meta = {
        "format": FORMAT,
        "method": config["method"],
        "model": config["model"],
        "step": latest_step(workdir),
        "dtype": dtype,
        "encoder": {"source_sha256": vgg_meta.get("source_sha256", ""), "preprocess": vgg_meta["preprocess"],
                    "padding": config["model"].get("vgg_padding", "reflect")},
        "training": {k: config[k] for k in ("data", "optim", "train", "seed") if k in config},
    }
    flat = flatten(params)
    if dtype == "int8":
        return write_npz(out, quantize_int8(flat), meta=meta, overwrite=overwrite)
    return write_npz(out, flat, meta=meta, overwrite=overwrite, dtype=np.dtype(dtype))


def main(argv: list[str] | None = None, prog: str = "python -m jaxstyle.export") -> int:
    """``jaxstyle export WORKDIR --out FILE.npz``; returns the exit status."""
    p = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n")[0])
    p.add_argument("workdir", help="training workdir (holds checkpoints/): its latest checkpoint; or one "
                                   "WORKDIR/checkpoints/<step> folder")
    p.add_argument("--out", required=True, help="output .npz")
    p.add_argument("--dtype", default="float16", choices=DTYPES)
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    a = p.parse_args(argv)
    logs.setup()
    try:
        path = export(a.workdir, a.out, dtype=a.dtype, overwrite=a.overwrite)
    except (FileNotFoundError, ValueError) as e:
        logging.error("%s", e)
        return 1
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
