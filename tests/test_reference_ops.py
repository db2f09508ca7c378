"""The masked statistics, the masked attention and the edge padding of padded batches against float64 NumPy
references written here from their definitions (no project code on the reference side)."""

import jax.numpy as jnp
import numpy as np
import pytest

from jaxstyle.ops.attention import attention_mean_std
from jaxstyle.ops.conv import conv3x3, conv3x3_up2, pad_beyond
from jaxstyle.ops.norms import adain, masked_mean_std, valid_mask

EPS = 1e-5


def _np_mean_std(x):
    """Per-channel mean and sqrt(unbiased variance + eps) over H, W of ``[H, W, C]`` float64."""
    x = x.reshape(-1, x.shape[-1]).astype(np.float64)
    mean = x.sum(0) / len(x)
    var = ((x - mean) ** 2).sum(0) / (len(x) - 1)
    return mean, np.sqrt(var + EPS)


def _np_conv3x3(x, k, pad):
    """Cross-correlation of ``[H, W, Cin]`` with ``[3, 3, Cin, Cout]`` after a one-pixel ``np.pad`` (float64)."""
    xp = np.pad(x.astype(np.float64), ((1, 1), (1, 1), (0, 0)), mode=pad)
    h, w = x.shape[:2]
    return sum(xp[dy:dy + h, dx:dx + w] @ k[dy, dx].astype(np.float64) for dy in range(3) for dx in range(3))


def test_masked_mean_std_and_adain_equal_the_statistics_of_the_crop():
    rng = np.random.default_rng(0)
    x = rng.normal(2.0, 3.0, (2, 7, 9, 5)).astype(np.float32)
    valid = np.array([[40, 72], [24, 40]])  # image px at stride 8: 5×9 and 3×5 positions
    mean, std = masked_mean_std(jnp.asarray(x), valid_mask(jnp.asarray(valid), (7, 9), 8))
    for i, (h, w) in enumerate(valid // 8):
        m, s = _np_mean_std(x[i, :h, :w])
        np.testing.assert_allclose(np.asarray(mean)[i, 0, 0], m, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(np.asarray(std)[i, 0, 0], s, rtol=1e-5)
    c, s = x[:1, :4, :6], x[1:, :5, :3]
    mc, sc = _np_mean_std(c[0])
    ms, ss = _np_mean_std(s[0])
    np.testing.assert_allclose(np.asarray(adain(jnp.asarray(c), jnp.asarray(s)))[0], (c[0] - mc) / sc * ss + ms,
                               rtol=1e-4, atol=1e-4)


def test_attention_statistics_ignore_invalid_keys():
    """``M = softmax(q·k) v`` and ``S = sqrt(max(softmax(q·k) v² − M², 0))`` over the valid keys only."""
    rng = np.random.default_rng(1)
    q, k = rng.normal(size=(1, 6, 4)), rng.normal(size=(1, 10, 4))
    v = rng.normal(size=(1, 10, 3))
    ok = np.array([[True] * 7 + [False] * 3])
    k_bad = k.copy()
    k_bad[:, 7:] = 50.0  # invalid keys that would take all the attention
    mean, std = attention_mean_std(*(jnp.asarray(a, jnp.float32) for a in (q, k_bad, v)), block=4,
                                   k_valid=jnp.asarray(ok))
    logits = q[0] @ k[0, :7].T
    a = np.exp(logits - logits.max(-1, keepdims=True))
    a /= a.sum(-1, keepdims=True)
    m = a @ v[0, :7]
    np.testing.assert_allclose(np.asarray(mean)[0], m, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.asarray(std)[0], np.sqrt(np.maximum(a @ v[0, :7] ** 2 - m ** 2, 0)), rtol=1e-3,
                               atol=1e-4)


@pytest.mark.parametrize("mode", ["reflect", "zeros"])
def test_pad_beyond_makes_a_padded_conv_equal_the_cropped_conv(mode):
    """Each image's valid part of conv3x3(pad_beyond(x)) is the 3×3 conv of the cropped image with its padding,
    whatever the rest of the grid holds; the same for the folded nearest-upsampling conv."""
    rng = np.random.default_rng(2)
    x = rng.normal(size=(2, 9, 11, 3)).astype(np.float32)
    k = rng.normal(size=(3, 3, 3, 2)).astype(np.float32)
    valid = np.array([[6, 8], [9, 5]])  # the second image fills the height: nothing to replace there
    y = np.asarray(conv3x3(pad_beyond(jnp.asarray(x), jnp.asarray(valid), mode), jnp.asarray(k), padding=mode))
    up = np.asarray(conv3x3_up2(pad_beyond(jnp.asarray(x), jnp.asarray(valid), "edge" if mode == "reflect" else mode),
                                jnp.asarray(k), padding=mode))
    np_pad = "reflect" if mode == "reflect" else "constant"
    for i, (h, w) in enumerate(valid):
        np.testing.assert_allclose(y[i, :h, :w], _np_conv3x3(x[i, :h, :w], k, np_pad), rtol=1e-4, atol=1e-4)
        upsampled = np.repeat(np.repeat(x[i, :h, :w], 2, 0), 2, 1)
        np.testing.assert_allclose(up[i, :2 * h, :2 * w], _np_conv3x3(upsampled, k, np_pad), rtol=1e-4, atol=1e-4)
    plain = np.asarray(conv3x3(jnp.asarray(x), jnp.asarray(k), padding=mode))
    assert np.abs(plain[0, :6, :8] - y[0, :6, :8]).max() > 1e-2  # without it the valid edge sees the grid
