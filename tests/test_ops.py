"""Pure ops: statistics, AdaIN, resizing."""

import jax.numpy as jnp
import numpy as np
import pytest

from jaxstyle.ops import adain, mean_std, upsample2x
from jaxstyle.ops.resize import pad_to_multiple


def test_mean_std_matches_reference_formula():
    x = np.random.default_rng(0).normal(size=(2, 5, 7, 3)).astype(np.float32)
    mean, std = mean_std(jnp.asarray(x))
    flat = x.reshape(2, -1, 3)
    np.testing.assert_allclose(mean[:, 0, 0], flat.mean(1), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(std[:, 0, 0], np.sqrt(flat.var(1, ddof=1) + 1e-5), rtol=1e-5)
    assert mean.shape == std.shape == (2, 1, 1, 3)


def test_adain_transfers_style_statistics():
    rng = np.random.default_rng(1)
    c = jnp.asarray(rng.normal(size=(2, 8, 8, 4)), jnp.float32)
    s = jnp.asarray(rng.normal(3.0, 2.5, size=(2, 5, 6, 4)), jnp.float32)
    out = adain(c, s)
    assert out.shape == c.shape and out.dtype == jnp.float32
    (om, osd), (sm, ssd) = mean_std(out), mean_std(s)
    np.testing.assert_allclose(om, sm, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(osd, ssd, rtol=1e-3)
    # the normalised content pattern is kept
    (cm, csd) = mean_std(c)
    np.testing.assert_allclose((out - sm) / ssd, (c - cm) / csd, rtol=1e-3, atol=1e-3)


def test_adain_errors():
    with pytest.raises(ValueError, match="channel mismatch"):
        adain(jnp.zeros((1, 4, 4, 3)), jnp.zeros((1, 4, 4, 5)))
    with pytest.raises(ValueError, match="2 spatial positions"):
        mean_std(jnp.zeros((1, 1, 1, 3)))


def test_upsample_nearest_equals_repeat_and_bilinear_keeps_constants():
    x = jnp.arange(2 * 3 * 4 * 2, dtype=jnp.float32).reshape(2, 3, 4, 2)
    up = upsample2x(x, "nearest")
    assert up.shape == (2, 6, 8, 2)
    np.testing.assert_array_equal(up[:, ::2, ::2], x)
    np.testing.assert_array_equal(up[:, 1::2, 1::2], x)
    const = upsample2x(jnp.full((1, 3, 3, 1), 0.7), "bilinear")
    np.testing.assert_allclose(const, 0.7, rtol=1e-6)


def test_pad_to_multiple_reflects_and_reports_size():
    x = jnp.arange(10 * 13, dtype=jnp.float32).reshape(1, 10, 13, 1)
    y, (h, w) = pad_to_multiple(x, 8)
    assert y.shape == (1, 16, 16, 1) and (h, w) == (10, 13)
    np.testing.assert_array_equal(y[:, :10, :13], x)
    np.testing.assert_array_equal(y[:, 10, :13], x[:, 8])  # reflection about the last row


def _assert_same_gradients(f, g, x, k):
    """The gradients of ``sum(sin(f(x, k)))`` and of the same with ``g`` agree in ``x`` and ``k``."""
    import jax

    grads = [jax.grad(lambda x, k: jnp.sum(jnp.sin(h(x, k))), argnums=(0, 1))(x, k) for h in (f, g)]
    for a, b in zip(*grads):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("padding, np_mode", [("reflect", "reflect"), ("zeros", "constant")])
@pytest.mark.parametrize("hw", [(7, 9), (2, 3)])
def test_conv3x3_equals_explicitly_padded_valid_conv_with_its_gradient(padding, np_mode, hw):
    import jax

    from jaxstyle.ops.conv import conv3x3

    rng = np.random.default_rng(3)
    x = jnp.asarray(rng.normal(size=(2, *hw, 4)).astype(np.float32))
    k = jnp.asarray(rng.normal(size=(3, 3, 4, 5)).astype(np.float32))

    def ref(x, k):
        x = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode=np_mode)
        return jax.lax.conv_general_dilated(x, k, (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC"),
                                            precision="highest")

    out = conv3x3(x, k, padding=padding, precision="highest")
    assert out.shape == (2, *hw, 5)
    np.testing.assert_allclose(out, ref(x, k), rtol=1e-5, atol=1e-5)
    _assert_same_gradients(ref, lambda x, k: conv3x3(x, k, padding=padding, precision="highest"), x, k)


@pytest.mark.parametrize("padding", ["reflect", "zeros"])
def test_conv3x3_up2_equals_upsample_then_conv_and_its_gradient(padding):

    from jaxstyle.ops.conv import conv3x3, conv3x3_up2

    rng = np.random.default_rng(4)
    x = jnp.asarray(rng.normal(size=(2, 3, 5, 4)).astype(np.float32))  # odd sides: every border case
    k = jnp.asarray(rng.normal(size=(3, 3, 4, 6)).astype(np.float32))
    ref = conv3x3(upsample2x(x), k, padding=padding, precision="highest")
    out = conv3x3_up2(x, k, padding=padding, precision="highest")
    assert out.shape == (2, 6, 10, 6)
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)
    _assert_same_gradients(lambda x, k: conv3x3(upsample2x(x), k, padding=padding, precision="highest"),
                           lambda x, k: conv3x3_up2(x, k, padding=padding, precision="highest"), x, k)


def test_mirror_decoder_folds_nearest_upsampling_into_the_next_conv():
    import jax
    from flax import nnx

    from jaxstyle.nn.blocks import MirrorDecoder

    dec = MirrorDecoder((16, 8, 8, 4), rngs=nnx.Rngs(0))
    x = jax.random.normal(jax.random.key(1), (1, 3, 4, 16))
    ref = x  # the same layers, upsampling as an explicit copy
    for i, conv in enumerate(dec.convs):
        ref = conv(ref)
        ref = jax.nn.relu(ref) if i != len(dec.convs) - 1 else ref
        ref = upsample2x(ref) if i in dec.up_after else ref
    np.testing.assert_allclose(dec(x), ref, rtol=1e-4, atol=1e-5)


def test_tiled_apply_equals_untiled_encoder_and_decoder(vgg):
    import jax
    from flax import nnx

    from jaxstyle.api import DECODER_HALO, ENCODER_HALO
    from jaxstyle.nn.blocks import MirrorDecoder
    from jaxstyle.ops.tiling import tiled_apply

    x = jax.random.uniform(jax.random.key(0), (1, 80, 104, 3))
    enc = jax.jit(lambda t: vgg(t, ("relu3_1",))["relu3_1"])
    np.testing.assert_allclose(tiled_apply(enc, x, tile=32, halo=ENCODER_HALO, scale=1 / 4), enc(x), atol=1e-4)
    dec = MirrorDecoder((16, 8, 8, 4), upsample="bilinear", rngs=nnx.Rngs(0))
    f = jax.random.uniform(jax.random.key(1), (1, 11, 13, 16))
    run = jax.jit(lambda t: dec(t))
    np.testing.assert_allclose(tiled_apply(run, f, tile=4, halo=DECODER_HALO, scale=8), run(f), atol=1e-5)
    with pytest.raises(ValueError, match="multiples of 4"):
        tiled_apply(enc, x, tile=30, halo=8, scale=1 / 4)
