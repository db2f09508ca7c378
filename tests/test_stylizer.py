"""jaxstyle.Stylizer: cached style products, masked statistics on padded contents, buckets, devices, process shares."""

import os
import pathlib
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxstyle
from jaxstyle.api import build_model
from jaxstyle.data.images import save_image
from jaxstyle.infer import process_share

REPO = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def models(vgg_path):
    return {m: build_model(m, seed=0) for m in ("adain", "lst", "adaattn")}


def _features(model, rng, h, w):
    return model.encode(jnp.asarray(rng.random((1, h, w, 3), np.float32)))


@pytest.mark.parametrize("method", ["adain", "lst", pytest.param("adaattn", marks=pytest.mark.slow)])
def test_prepared_style_and_masked_content_equal_the_plain_transform(models, method):
    """The cached style side gives ``transform``'s result; a content inside a padded grid full of other values,
    with ``valid`` set, gives the unpadded content's result on its part (statistics, LST's zero-padded
    covariance convolutions and AdaAttN's keys ignore the padding)."""
    model, rng = models[method], np.random.default_rng(0)
    fc, fs = _features(model, rng, 48, 32), _features(model, rng, 32, 48)
    alpha = 0.6
    want = model.transform(fc, fs, alpha)
    got = model.transform_prepared(fc, model.prepare_style(fs), alpha)
    for a, b in zip(jax.tree.leaves(want), jax.tree.leaves(got)):
        # AdaAttN: padded style positions change the summation order; S = sqrt(E[v²] − M²) amplifies that
        np.testing.assert_allclose(b, a, rtol=0, atol=2e-3 * float(jnp.abs(a).max()))

    def pad(f):  # double the grid, fill the padding with something unlike the features
        return jnp.pad(f, ((0, 0), (0, f.shape[1]), (0, f.shape[2]), (0, 0)), constant_values=7.0)

    big = model.transform_prepared(jax.tree.map(pad, fc), model.prepare_style(fs), alpha,
                                   valid=jnp.array([[48, 32]], jnp.int32))
    small = model.transform_prepared(fc, model.prepare_style(fs), alpha)
    if method == "adaattn":  # the merge conv's reflection at the border is the decoder's business; compare modules
        big, small = {k: big[k] for k in ("a4", "skip")}, {k: small[k] for k in ("a4", "skip")}
    for a, b in zip(jax.tree.leaves(small), jax.tree.leaves(big)):
        np.testing.assert_allclose(b[:, : a.shape[1], : a.shape[2]], a, rtol=0, atol=2e-3 * float(jnp.abs(a).max()))
    if method != "adaattn":  # without valid, the padding would change the statistics
        unmasked = model.transform_prepared(jax.tree.map(pad, fc), model.prepare_style(fs), alpha)
        assert float(jnp.abs(unmasked[:, :6, :4] - small).max()) > 1e-2


def test_stylizer_encodes_once_buckets_and_matches_stylize(vgg_path, style_images):
    """3 contents × 2 styles: each image encoded once, one encoder and one apply program for the one bucket, and
    the output equal to ``jaxstyle.stylize``'s exact-shape output although two contents are padded by 32-43 rows
    (masked statistics, and every convolution pads at the image's own edge)."""
    from conftest import SHARED

    s = jaxstyle.Stylizer("adain", bucket=64, devices=jax.local_devices()[:1])
    keys = [s.add_style(img) for img in style_images]
    contents = [jaxstyle.load_image(SHARED / "content" / f, max_side=128)
                for f in ("golden_gate.jpg", "chicago.jpg", "cornell.jpg")]  # 128², 85×128, 90×128
    outs = {(i, j): s(c, k) for i, c in enumerate(contents) for j, k in enumerate(keys)}
    outs[(0, 0)] = s(contents[0], keys[0])  # cached: no new encode
    assert dict(s.counts) == {"style_encodes": 2, "content_encodes": 3, "pairs": 7}
    # one encoder program per bucket (the styles' 64², the contents' 128²), one transform+decoder program
    assert s._encode._cache_size() == 2 and s._apply._cache_size() == 1
    for (i, j), out in outs.items():
        assert out.shape == contents[i].shape
        np.testing.assert_allclose(out, jaxstyle.stylize(contents[i], style_images[j], method="adain"), atol=1e-4)
    with pytest.raises(KeyError, match="add_style"):
        s(contents[0], "never added")


@pytest.mark.parametrize("method", ["lst", "adaattn"])
def test_bucketed_output_equals_stylize(vgg_path, method):
    """A content and a style padded to a 128² bucket (43 and 11 rows): the output equals the exact-shape one."""
    from conftest import SHARED

    c = jaxstyle.load_image(SHARED / "content" / "chicago.jpg", max_side=128)  # 85×128
    st = jaxstyle.load_image(SHARED / "style" / "mosaic.jpg", max_side=128)  # 106×128
    s = jaxstyle.Stylizer(method, bucket=128, devices=jax.local_devices()[:1])
    assert s.bucket_shape(*c.shape[:2]) == (128, 128) == s.bucket_shape(*st.shape[:2], style=True)
    np.testing.assert_allclose(s(c, st), jaxstyle.stylize(c, st, method=method), atol=1e-4)


def test_stylizer_unmasked_method_uses_exact_shapes(vgg_path, content_photos, style_images):
    s = jaxstyle.Stylizer("gnn", bucket=64, devices=jax.local_devices()[:1])
    assert s.bucket == s.size_multiple and not s.masked
    c = content_photos[0][:56, :64]
    np.testing.assert_allclose(s(c, style_images[0]), jaxstyle.stylize(c, style_images[0], method="gnn"), atol=1e-5)


def test_stylizer_batch_is_data_parallel_over_devices(vgg_path, content_photos, style_images):
    """The conftest fakes 4 CPU devices: a batch of 4 runs as one program sharded over all of them, with the
    results of the one-device stylizer."""
    assert len(jax.local_devices()) == 4
    many = jaxstyle.Stylizer("adain", bucket=64)
    one = jaxstyle.Stylizer("adain", bucket=64, devices=jax.local_devices()[:1])
    contents = np.stack([content_photos[0], content_photos[1], content_photos[0][::-1], content_photos[1][:, ::-1]])
    enc = many.encode(list(contents[:3]))  # a short batch is filled up to the 4 devices
    out = many.apply(enc, many.add_style(style_images[1]))
    assert out.shape[0] == 4 and len(out.sharding.device_set) == 4
    got = many.crop(enc, out)
    assert len(got) == 3
    np.testing.assert_allclose(np.stack(got), one(contents[:3], style_images[1]), atol=1e-5)


def test_process_share_splits_without_overlap():
    items = list(range(10))
    shares = [process_share(items, i, 3) for i in range(3)]
    assert sorted(sum(shares, [])) == items and shares[0] == [0, 3, 6, 9]


_WORKER = """
import sys, jax
jax.distributed.initialize(coordinator_address=sys.argv[1], num_processes=2, process_id=int(sys.argv[2]))
from jaxstyle.infer import main
sys.exit(main([sys.argv[3]], [sys.argv[4]], sys.argv[5], method="adain", progress=False))
"""


def test_two_processes_take_their_own_contents(tmp_path, vgg_path, content_photos, style_images):
    """Two jax.distributed processes on one folder: every output written once, by the process that owns it."""
    import socket

    cdir, sdir, out = tmp_path / "c", tmp_path / "s", tmp_path / "out"
    for i in range(4):
        save_image(cdir / f"c{i}.png", content_photos[i % 2][: 48 + 8 * i])
    save_image(sdir / "s.png", style_images[0])
    with socket.socket() as sock:  # a free port for the coordinator
        sock.bind(("localhost", 0))
        addr = f"localhost:{sock.getsockname()[1]}"
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=1")
    procs = [subprocess.Popen([sys.executable, "-c", _WORKER, addr, str(i), str(cdir), str(sdir), str(out)], cwd=REPO,
                              env=env, stderr=subprocess.PIPE, text=True) for i in range(2)]
    errs = [p.communicate(timeout=600)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errs
    assert sorted(p.name for p in out.iterdir()) == [f"c{i}__s.png" for i in range(4)]
    assert all("2 written" in e for e in errs), errs  # each process its own two contents
