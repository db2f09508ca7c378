"""Official PyTorch checkpoints → jaxstyle models: parity with torch re-implementations of the official layouts.

The torch modules (``benchmarks/torch_official.py``, shared with the speed comparison) are written after the official
repositories' module layouts (the same ``state_dict`` keys and forward computation), with random weights, saved with
``torch.save`` as the official code saves them; the file set is converted with ``python -m jaxstyle.weights
convert-official`` and the jaxstyle model must give the same image on the same inputs (relative error ≤ 1e-3).
"""

import pathlib

import numpy as np
import pytest
from conftest import require_module

import jaxstyle
from jaxstyle.weights.official import convert_official
from jaxstyle.weights.store import WeightsError

torch = require_module("torch")
from benchmarks import torch_official  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[1]


def _rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


@pytest.fixture(scope="module")
def images():
    """``{method: (content, style)}``: odd pooled sizes (76 → 38 → 19 → ceil 10 / floor 9) where the layout takes
    them, so the pooling mode is checked too; AdaAttN needs multiples of 16 (relu5_1 is upsampled onto relu4_1)."""
    rng = np.random.default_rng(0)
    odd = rng.random((1, 76, 60, 3), np.float32), rng.random((1, 52, 84, 3), np.float32)
    return {"adain": odd, "lst_r41": odd, "lst_r31": odd,
            "adaattn": (rng.random((1, 64, 64, 3), np.float32), rng.random((1, 48, 80, 3), np.float32))}


@pytest.mark.parametrize("method", ["adain", "adaattn", "lst_r41", "lst_r31"])
def test_converted_official_checkpoint_matches_the_torch_layout(method, tmp_path, images):
    forward, files, _ = torch_official.build(method, tmp_path)
    out = convert_official(method.split("_")[0], list(reversed(files)), tmp_path / "model.npz")  # any order
    c, s = images[method]
    with torch.no_grad():
        want = forward(torch_official.nchw(c), torch_official.nchw(s)).numpy().transpose(0, 2, 3, 1)
    model = jaxstyle.load_pretrained(out)
    got = np.asarray(model(c, s))
    assert got.shape == want.shape
    assert np.abs(want).mean() > 1e-2  # a non-degenerate reference
    assert _rel(got, want) <= 1e-3, _rel(got, want)


def _cli(*args):
    """``python -m jaxstyle.weights convert-official ARGS`` in this process (``returncode``, ``stderr``); an exception
    that escapes it (what would be a traceback) fails the test."""
    import contextlib
    import io
    import types

    from jaxstyle.weights.__main__ import main

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        rc = main(["convert-official", *map(str, args)])
    return types.SimpleNamespace(returncode=rc, stderr=err.getvalue())


def test_wrong_truncated_and_missing_files_give_one_error_line(tmp_path):
    adain_files = torch_official.build("adain", tmp_path).files
    lst_files = torch_official.build("lst_r31", tmp_path / "lst").files
    out = tmp_path / "m.npz"
    cases = [
        (["adain", adain_files[0], lst_files[1]], "dec_r31.pth, not a file of the official adain release"),
        (["adain", adain_files[0]], "missing decoder.pth"),
        (["lst", *lst_files[:2], adain_files[0]], "not a file of the official lst release"),
        (["gnn", *adain_files], "unknown method"),
    ]
    trunc = tmp_path / "decoder_truncated.pth"
    trunc.write_bytes(adain_files[1].read_bytes()[: adain_files[1].stat().st_size // 2])
    cases.append((["adain", adain_files[0], trunc], "not a readable PyTorch checkpoint"))
    for args, msg in cases:
        r = _cli(*args, "--out", out)
        assert r.returncode == 1, r
        assert r.stderr.count("\n") == 1 and msg in r.stderr and "Traceback" not in r.stderr, r.stderr
        assert not out.exists()
    r = _cli("adain", *adain_files, "--out", out)
    assert r.returncode == 0 and out.is_file(), r.stderr
    r = _cli("adain", *adain_files, "--out", out)
    assert r.returncode == 1 and "exists" in r.stderr  # nothing overwritten without --overwrite
    with pytest.raises(WeightsError, match="a second"):
        convert_official("adain", [*adain_files, adain_files[1]], tmp_path / "x.npz")
