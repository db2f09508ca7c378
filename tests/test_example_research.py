"""``examples/research.py`` runs as written at a small size: jit, vmap and grad through a shipped model, and its
gradients do their job (a saliency that is neither uniform nor on a few pixels, a fine-tune that lowers the
style distance)."""

import os
import pathlib
import subprocess
import sys

from conftest import require_module

EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples"


def test_research_script_runs_and_its_gradients_do_their_job(tmp_path, vgg_path):
    require_module("skimage")
    r = subprocess.run([sys.executable, str(EXAMPLES / "research.py"), "--size", "64", "--steps", "3", "--out",
                        str(tmp_path)], capture_output=True, text=True, timeout=900,
                       env={**os.environ, "PYTHONPATH": str(EXAMPLES.parent)})
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "1. output (1, 64, 64, 3), alpha sweep (3, 1, 64, 64, 3)", r.stdout
    # 2: the saliency is a real gradient: not all on a few pixels, not uniform
    share = float(lines[1].split()[6].rstrip("%")) / 100
    assert 0.1 < share < 0.9, r.stdout
    # 3: fine-tuning on the style lowers the style distance
    s_before, s_after = float(lines[2].split()[7]), float(lines[2].split()[9].rstrip(","))
    assert s_after < s_before, r.stdout
    assert {p.name for p in tmp_path.glob("*.png")} == {"stylized.png", "saliency.png", "fine_tuned.png"}
