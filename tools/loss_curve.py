"""Print a training run's loss curve as a markdown table: each loss term's mean over windows of steps.

    python tools/loss_curve.py runs/stage1 [runs/stage2 ...] [--window 50]

Several workdirs are stages of one model, in order; their steps are numbered on from the previous stage's last.
A window's value is the mean of the rows logged in it (``metrics.jsonl``: every ``log.every_steps``), so batch
noise averages out.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys

import numpy as np


def windows(workdirs: list[str], window: int) -> tuple[list[str], list[tuple[str, int, int, list[float]]]]:
    """``(loss keys, [(stage, first step, last step, [mean per key])])`` over consecutive ``window``-step spans."""
    stages = []
    for wd in workdirs:
        rows = [json.loads(line) for line in open(pathlib.Path(wd) / "metrics.jsonl")]
        by_step = {r["step"]: r for r in rows}  # a resumed run logs its last steps again: keep the latest
        stages.append((wd, [by_step[s] for s in sorted(by_step)]))
    keys = list(dict.fromkeys(k for _, rows in stages for r in rows for k in r
                              if k == "loss" or k.startswith("loss_")))
    rows_out, offset = [], 0
    for wd, rows in stages:
        last = rows[-1]["step"]
        for lo in range(0, last, window):
            part = [r for r in rows if lo < r["step"] <= lo + window]
            if part:
                rows_out.append((pathlib.Path(wd).name, offset + lo + 1, offset + min(lo + window, last),
                                 [float(np.mean([r.get(k, np.nan) for r in part])) for k in keys]))
        offset += last
    return keys, rows_out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("workdirs", nargs="+")
    p.add_argument("--window", type=int, default=50)
    a = p.parse_args()
    try:
        keys, rows = windows(a.workdirs, a.window)
    except OSError as e:
        print(f"error: {e.filename}: {e.strerror}; pass training workdirs (they hold metrics.jsonl)", file=sys.stderr)
        return 2
    print("| stage | steps | " + " | ".join(keys) + " |")
    print("|---|---|" + "--:|" * len(keys))
    for stage, lo, hi, vals in rows:
        print(f"| {stage} | {lo}–{hi} | " + " | ".join("–" if np.isnan(v) else f"{v:.4g}" for v in vals) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
