"""Training logs people look at: scalars to JSONL and TensorBoard, image grids as PNG.

Only process 0 writes (other processes get a writer that does nothing). TensorBoard event files come from
``tensorboardX``, which needs no TensorFlow; it is optional (JSONL is always written).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping

import numpy as np

from jaxstyle._io import is_remote, run_path
from jaxstyle.data.images import save_image


class MetricWriter:
    """``write_scalars(step, {name: value})``, ``write_images(step, name, grid)``, ``flush()``, ``close()``.

    ``workdir`` may be a URI (``gs://bucket/run``): files go through ``etils.epath`` (``metrics.jsonl`` is then
    rewritten whole at each write, as object stores cannot append, and TensorBoard events stay local-only).
    """

    def __init__(self, workdir: str | os.PathLike, *, enabled: bool = True, tensorboard: bool = True):
        self.workdir = run_path(workdir)
        self.remote = is_remote(workdir)
        self.enabled = enabled
        self._jsonl = None
        self._rows: list[str] = []
        self._tb = None
        if not enabled:
            return
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.remote:
            path = self.workdir / "metrics.jsonl"
            self._rows = path.read_text().splitlines() if path.exists() else []
        else:
            self._jsonl = open(self.workdir / "metrics.jsonl", "a", buffering=1)  # noqa: SIM115
        if tensorboard and not self.remote:
            try:
                from tensorboardX import SummaryWriter
            except ImportError:  # optional: JSONL is the record
                pass
            else:
                self._tb = SummaryWriter(os.fspath(self.workdir / "tb"))

    def write_scalars(self, step: int, scalars: Mapping[str, float]) -> None:
        if not self.enabled:
            return
        row = {"step": int(step), **{k: float(v) for k, v in scalars.items()}}
        if self.remote:
            self._rows.append(json.dumps(row))
            (self.workdir / "metrics.jsonl").write_text("\n".join(self._rows) + "\n")
        else:
            self._jsonl.write(json.dumps(row) + "\n")
        if self._tb is not None:
            for k, v in row.items():
                if k != "step":
                    self._tb.add_scalar(k, v, int(step))

    def write_images(self, step: int, name: str, grid: np.ndarray) -> str | None:
        """Save ``grid`` (``[H, W, 3]`` in [0, 1]) as ``samples/<name>_<step>.png`` (and to TensorBoard)."""
        if not self.enabled:
            return None
        path = self.workdir / "samples" / f"{name}_{int(step):07d}.png"
        if self.remote:
            with tempfile.TemporaryDirectory() as tmp:
                local = save_image(os.path.join(tmp, path.name), grid)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(local.read_bytes())
        else:
            save_image(path, grid, overwrite=True)
        if self._tb is not None:
            self._tb.add_image(name, np.clip(grid, 0, 1), int(step), dataformats="HWC")
        return str(path)

    def flush(self) -> None:
        if self._tb is not None:
            self._tb.flush()

    def close(self) -> None:
        if self._jsonl is not None:
            self._jsonl.close()
            self._jsonl = None
        if self._tb is not None:
            self._tb.close()
            self._tb = None


def image_grid(rows: list[np.ndarray], pad: int = 2) -> np.ndarray:
    """Stack ``n`` rows of ``[H, W, 3]`` panels (e.g. content | style | output) into one ``[n·H', W', 3]`` image."""
    def hcat(panels):
        h = max(p.shape[0] for p in panels)
        sep = np.ones((h, pad, 3), np.float32)
        out = []
        for i, p in enumerate(panels):
            p = np.pad(np.clip(p, 0, 1), ((0, h - p.shape[0]), (0, 0), (0, 0)), constant_values=1)
            out += [sep, p] if i else [p]
        return np.concatenate(out, axis=1)

    lines = [hcat(r) for r in rows]
    w = max(x.shape[1] for x in lines)
    lines = [np.pad(x, ((0, pad), (0, w - x.shape[1]), (0, 0)), constant_values=1) for x in lines]
    return np.concatenate(lines, axis=0)[:-pad] if pad else np.concatenate(lines, axis=0)
