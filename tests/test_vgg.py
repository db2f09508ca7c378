"""The Flax VGG-19 against a PyTorch VGG-19 built from the same weights, and its contracts."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import require_module
from flax import nnx

from jaxstyle.nn.vgg import RELU_LAYERS, load_vgg19
from jaxstyle.weights import load_vgg_npz

PARITY_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")


def torch_vgg19_features(arrays, img):
    """Reference: the original VGG-19 (zero padding, floor max-pool, Caffe BGR input) in plain PyTorch ops."""
    torch = require_module("torch")
    F = torch.nn.functional
    x = torch.from_numpy(img).permute(0, 3, 1, 2)[:, [2, 1, 0]] * 255.0
    x = x - torch.tensor([103.939, 116.779, 123.68]).view(1, 3, 1, 1)
    feats = {}
    for name in RELU_LAYERS:
        conv = name.replace("relu", "conv")
        if name.endswith("_1") and name != "relu1_1":
            x = F.max_pool2d(x, 2, 2)
        w = torch.from_numpy(np.ascontiguousarray(arrays[f"{conv}/kernel"].transpose(3, 2, 0, 1)))
        x = F.relu(F.conv2d(x, w, torch.from_numpy(arrays[f"{conv}/bias"]), padding=1))
        feats[name] = x.permute(0, 2, 3, 1).numpy()
    return feats


def test_parity_with_pytorch_on_a_real_photo(vgg_path, content_photos):
    arrays, _ = load_vgg_npz(vgg_path)
    img = np.ascontiguousarray(content_photos[:1])  # [1, 64, 64, 3] real photo
    vgg = load_vgg19(vgg_path, padding="zeros", normalize=False, precision="highest")
    ours = jax.jit(lambda x: vgg(x, PARITY_LAYERS))(jnp.asarray(img))
    ref = torch_vgg19_features(arrays, img)
    for layer in PARITY_LAYERS:
        a, r = np.asarray(ours[layer]), ref[layer]
        assert a.shape == r.shape
        rel = np.linalg.norm(a - r) / np.linalg.norm(r)
        assert rel <= 1e-6, (layer, rel)  # the README's claim; measured 1.6e-7 to 4.4e-7 here
        assert np.abs(a - r).max() <= 2e-6 * np.abs(r).max(), layer  # measured at most 7.2e-7


@pytest.mark.parametrize("layers", [("relu3_1",), ("relu1_2", "relu2_1", "relu2_2", "relu3_1")])
def test_pooling_before_bias_and_relu_gives_the_same_features(vgg, content_photos, layers):
    """The convs before a pool pool first (max commutes with the bias and the ReLU): the features equal the
    layer-by-layer relu(conv + b) -> pool, whether or not the pre-pool layer is returned, at odd sizes too."""
    x = jnp.asarray(content_photos[:1, :38, :54])

    def reference(x):
        x, out = x @ vgg._get("pre_matrix") + vgg._get("pre_bias"), {}
        for i, name in enumerate(RELU_LAYERS[: RELU_LAYERS.index("relu3_1") + 1]):
            if i and name.endswith("_1"):
                x = vgg._pool(x)
            x = vgg._conv(x, name.replace("relu", "conv"))
            out[name] = x / vgg._get(f"{name.replace('relu', 'conv')}_mean")
        return out

    ref, ours = jax.jit(reference)(x), jax.jit(lambda x: vgg(x, layers))(x)
    for layer in layers:
        np.testing.assert_allclose(np.asarray(ours[layer]), np.asarray(ref[layer]), rtol=1e-5, atol=1e-5)


def test_shapes_and_stop_at_deepest(vgg):
    x = jnp.zeros((2, 40, 56, 3)) + 0.5
    out = vgg(x, ("relu1_1", "relu3_1"))
    assert set(out) == {"relu1_1", "relu3_1"}
    assert out["relu1_1"].shape == (2, 40, 56, 64) and out["relu3_1"].shape == (2, 10, 14, 256)

    def n_convs(layers):  # 2-D convolutions (a reflect-padded one also has 1-D ones for its frame on CPU)
        jaxpr = jax.make_jaxpr(lambda x: vgg(x, layers))(x)
        return str(jaxpr).count("window_strides=(1, 1)")

    assert n_convs(("relu1_1",)) == 1
    assert n_convs(("relu4_1",)) == 9
    assert n_convs(("relu2_1", "relu1_2")) == 3


def test_normalised_features_are_raw_over_channel_means(vgg_path, content_photos):
    arrays, meta = load_vgg_npz(vgg_path)
    assert "calibration" in meta
    x = jnp.asarray(content_photos)
    norm = load_vgg19(vgg_path)(x, ("relu2_1", "relu4_1"))
    raw = load_vgg19(vgg_path, normalize=False)(x, ("relu2_1", "relu4_1"))
    for layer in norm:
        mean = arrays[f"{layer.replace('relu', 'conv')}/channel_mean"]
        np.testing.assert_allclose(np.asarray(norm[layer]) * mean, np.asarray(raw[layer]), rtol=1e-5, atol=1e-3)
        # normalised features of real photos sit near 1 on average (Gatys et al.'s normalised VGG)
        assert 0.3 < float(jnp.mean(norm[layer])) < 3.0


def test_reflect_and_zero_padding_differ_only_at_borders(vgg):
    x = jax.random.uniform(jax.random.key(0), (1, 32, 32, 3))
    a = vgg(x, ("relu1_1",))["relu1_1"]
    vgg.padding = "zeros"
    try:
        b = vgg(x, ("relu1_1",))["relu1_1"]
    finally:
        vgg.padding = "reflect"
    np.testing.assert_allclose(a[:, 1:-1, 1:-1], b[:, 1:-1, 1:-1], rtol=1e-5, atol=1e-5)
    assert not np.allclose(a[:, 0], b[:, 0])


def test_frozen_never_trainable_and_gradients_reach_the_input(vgg):
    assert not jax.tree.leaves(nnx.state(vgg, nnx.Param))
    graphdef, state = nnx.split(vgg)
    x = jax.random.uniform(jax.random.key(1), (1, 16, 16, 3))

    def f(state, x):
        return jnp.sum(nnx.merge(graphdef, state)(x, ("relu2_1",))["relu2_1"])

    g_state, g_x = jax.grad(f, argnums=(0, 1))(state, x)
    assert all(float(jnp.abs(g).max()) == 0.0 for g in jax.tree.leaves(g_state))
    assert float(jnp.abs(g_x).max()) > 0.0


def test_bad_calls_raise_clear_errors(vgg):
    with pytest.raises(ValueError, match="unknown VGG-19 layer"):
        vgg(jnp.zeros((1, 16, 16, 3)), ("relu4_5",))
    with pytest.raises(ValueError, match=r"\[B, H, W, 3\]"):
        vgg(jnp.zeros((16, 16, 3)))
    with pytest.raises(ValueError, match="padding"):
        load_vgg19(padding="same")
