"""The masked statistics, the masked attention, the edge padding of padded batches, mean-variance normalisation,
AdaAttN's attention statistics, LST's transformation matrix and Style Kernel's dynamic convolution against float64
NumPy references written here from their definitions (no project code on the reference side; the models' own
parameters are read out of tiny real modules built on a stub encoder that only reports channel widths)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jaxstyle.models import adaattn as adaattn_model
from jaxstyle.models import lst as lst_model
from jaxstyle.models import style_kernel as sk_model
from jaxstyle.ops.attention import attention_mean_std
from jaxstyle.ops.conv import conv3x3, conv3x3_up2, pad_beyond
from jaxstyle.ops.norms import adain, masked_mean_std, masked_mvn, mvn, valid_mask

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


# ---------------------------------------------------------------------------------------------------------------
# mean-variance normalisation, AdaAttN, LST and Style Kernel against NumPy (float64)
# ---------------------------------------------------------------------------------------------------------------


class _StubEncoder:
    """Only what the models' constructors ask of a VGG-19: the channel width at each relu layer (tiny widths)."""

    ceil_pool = False

    def __init__(self, widths):
        self.widths = widths

    def channels(self, layer):
        return self.widths[layer]


def _build(cls, widths, cfg, seed):
    """``cls(stub encoder, cfg)`` initialised inside one ``nnx.jit`` (one compile, not one per parameter shape)."""
    return nnx.jit(lambda: cls(_StubEncoder(widths), cfg, rngs=nnx.Rngs(seed)))()


def _np_mvn(x):
    """``(x − μ) / sqrt(σ²_unbiased + eps)`` per sample and channel over H, W of ``[B, H, W, C]`` (float64)."""
    x = np.asarray(x, np.float64)
    n = x.shape[1] * x.shape[2]
    mean = x.sum((1, 2), keepdims=True) / n
    var = ((x - mean) ** 2).sum((1, 2), keepdims=True) / (n - 1)
    return (x - mean) / np.sqrt(var + EPS)


def _np_softmax(logits):
    e = np.exp(logits - logits.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _params(module):
    """A 1×1 / 3×3 conv's ``(kernel, bias)`` as float64 NumPy (the module's real parameters)."""
    return np.asarray(module.kernel[...], np.float64), np.asarray(module.bias[...], np.float64)


def test_mvn_and_masked_mvn_normalise_with_eps_under_the_root():
    """``mvn(x) = (x − μ) / sqrt(var_{ddof=1} + eps)``, eps 1e-5 inside the root; a channel with variance ~1e-6
    makes eps's place matter (``sqrt(var) + eps`` would be 3× off there). ``masked_mvn`` on the valid part of a
    padded map equals ``mvn`` of the crop. Tolerance: rtol 1e-4, atol 1e-4 (float32 vs float64)."""
    rng = np.random.default_rng(3)
    x = rng.normal(1.0, 2.0, (2, 6, 7, 4))
    x[..., 1] = 0.3 + 1e-3 * rng.normal(size=(2, 6, 7))  # variance ~1e-6: eps dominates
    x = x.astype(np.float32)
    np.testing.assert_allclose(np.asarray(mvn(jnp.asarray(x))), _np_mvn(x), rtol=1e-4, atol=1e-4)
    valid = np.array([[32, 40], [48, 24]])  # stride 8: 4×5 and 6×3 positions
    got = np.asarray(masked_mvn(jnp.asarray(x), valid_mask(jnp.asarray(valid), (6, 7), 8)))
    for i, (h, w) in enumerate(valid // 8):
        np.testing.assert_allclose(got[i, :h, :w], _np_mvn(x[i:i + 1, :h, :w])[0], rtol=1e-4, atol=1e-4)


def _np_adaattn_keys(feats, level, levels):
    """``concat_{l ≤ level} mvn(nearest(F^l → size of F^level))``; the sizes here are exact integer multiples, where
    PyTorch's nearest reads every ``f``-th position."""
    h = feats[level].shape[1]
    parts = []
    for l in levels[: levels.index(level) + 1]:
        f = feats[l].shape[1] // h
        parts.append(_np_mvn(feats[l][:, ::f, ::f]))
    return np.concatenate(parts, axis=-1)


def _np_adaattn_module(block, fc, fs, level, levels, idx):
    """AdaAttN (spec §2.1) from the block's own 1×1 convs: ``Q = f(K̃_c)``, ``K = g(K̃_s)``, ``V = h(F_s)`` over the
    style positions ``idx``, ``A = softmax(Q Kᵀ)`` (no scaling), ``M = A V``, ``S = sqrt(relu(A V² − M²))``,
    output ``S ⊙ mvn(F_c) + M`` (float64)."""
    (wf, bf), (wg, bg), (wh, bh) = _params(block.f), _params(block.g), _params(block.h)
    b, h, w, c = fc[level].shape
    q = (_np_adaattn_keys(fc, level, levels) @ wf + bf).reshape(b, h * w, -1)
    k = (_np_adaattn_keys(fs, level, levels) @ wg + bg).reshape(b, -1, q.shape[-1])[:, idx]
    v = (np.asarray(fs[level], np.float64) @ wh + bh).reshape(b, -1, c)[:, idx]
    a = _np_softmax(np.einsum("bqd,bkd->bqk", q, k))
    m = a @ v
    s = np.sqrt(np.maximum(a @ v ** 2 - m ** 2, 0.0))
    return (s * _np_mvn(fc[level]).reshape(b, h * w, c) + m).reshape(b, h, w, c)


def test_adaattn_modules_equal_the_attention_statistics_formula():
    """A tiny AdaAttN (widths 2/3/4/5/5, N(0, 0.3) init): the relu3_1 module (keys relu1_1..relu3_1, style
    subsampled to 20 of 48 positions by the documented draw ``permutation(key(sample_seed), N_s)[:cap]``, queries
    in blocks of 7) and the relu4_1 module (keys relu1_1..relu4_1, no subsampling) equal the NumPy formula, both
    through ``transform`` and through the cached ``prepare_style`` / ``transform_prepared``. Tolerance: rtol 1e-3,
    atol 1e-3 (float32 attention; S takes a square root of a difference)."""
    levels = adaattn_model.LEVELS
    cfg = adaattn_model.default_config()
    cfg.init_std, cfg.max_sample_3, cfg.query_block = 0.3, 20, 7
    model = _build(adaattn_model.AdaAttN, dict(zip(levels, (2, 3, 4, 5, 5))), cfg, 0)
    rng = np.random.default_rng(4)
    fc = {l: rng.normal(0.5, 1.0, (1, 32 >> i, 32 >> i, c)).astype(np.float32)
          for i, (l, c) in enumerate(zip(levels, (2, 3, 4, 5, 5)))}
    fs = {l: rng.uniform(0.0, 2.0, (1, 32 >> i, 24 >> i, c)).astype(np.float32)
          for i, (l, c) in enumerate(zip(levels, (2, 3, 4, 5, 5)))}  # relu3_1 8×6 = 48 positions
    idx3 = np.asarray(jax.random.permutation(jax.random.key(int(cfg.sample_seed)), 48)[:20])
    want3 = _np_adaattn_module(model.attn_3, fc, fs, "relu3_1", levels, idx3)
    want4 = _np_adaattn_module(model.attn_4, fc, fs, "relu4_1", levels, np.arange(12))
    jfc, jfs = ({l: jnp.asarray(v) for l, v in f.items()} for f in (fc, fs))
    out = nnx.jit(lambda m, c, s: m.transform(c, s))(model, jfc, jfs)
    cached = nnx.jit(lambda m, c, s: m.transform_prepared(c, m.prepare_style(s)))(model, jfc, jfs)
    for got in (out, cached):
        np.testing.assert_allclose(np.asarray(got["skip"]), want3, rtol=1e-3, atol=1e-3)
        np.testing.assert_allclose(np.asarray(got["a4"]), want4, rtol=1e-3, atol=1e-3)
    # the subset matters: attending to all 48 positions gives another result
    assert np.abs(want3 - _np_adaattn_module(model.attn_3, fc, fs, "relu3_1", levels, np.arange(48))).max() > 1e-2


def _np_conv3x3_zero(x, k, b):
    """``Conv2d(·, ·, 3, 1, 1)`` (zero padding) of ``[H, W, Cin]`` with ``[3, 3, Cin, Cout]`` plus bias (float64)."""
    return _np_conv3x3(x, k, "constant") + b


def _np_covariance_net(net, x):
    """LST's cnet/snet (spec §3.1) from the net's own parameters: three zero-padded 3×3 convs (ReLU between) → O
    ``[h·w, m]``, ``G = Oᵀ O / (h·w)``, FC on the row-major flattening → ``[m, m]``; also returns ``G``."""
    for i, conv in enumerate(net.convs):
        x = _np_conv3x3_zero(x, *_params(conv))
        if i < len(net.convs) - 1:
            x = np.maximum(x, 0.0)
    o = x.reshape(-1, x.shape[-1])
    g = o.T @ o / len(o)
    fk, fb = np.asarray(net.fc_kernel[...], np.float64), np.asarray(net.fc_bias[...], np.float64)
    return (g.reshape(-1) @ fk + fb).reshape(g.shape), g


def test_lst_transform_equals_the_matrix_formula():
    """A tiny LST r41 (C = 16, m = 4): ``T = T_s · T_c`` from the covariance nets, output
    ``unzip(T · compress(F_c − μ_c)) + μ_s`` with the module's real parameters; the covariance itself
    (``O Oᵀ / (h·w)``, read out through an identity FC) too; and the masked path on a padded content equals the crop.
    Tolerance: rtol 1e-4, atol 1e-4 (float32 vs float64)."""
    cfg = lst_model.default_config()
    cfg.matrix_size = 4
    model = _build(lst_model.LST, {"relu1_1": 4, "relu2_1": 4, "relu3_1": 8, "relu4_1": 16}, cfg, 1)
    rng = np.random.default_rng(5)
    fc = rng.uniform(0.0, 2.0, (1, 5, 6, 16)).astype(np.float32)
    fs = rng.uniform(0.0, 3.0, (1, 4, 7, 16)).astype(np.float32)

    def reference(fc, fs):
        cf = fc[0].astype(np.float64) - fc[0].mean((0, 1))
        sf = fs[0].astype(np.float64) - fs[0].mean((0, 1))
        t = _np_covariance_net(model.snet, sf)[0] @ _np_covariance_net(model.cnet, cf)[0]
        (wc, bc), (wu, bu) = _params(model.compress), _params(model.unzip)
        z = (cf @ wc[0, 0] + bc) @ t.T  # z(p) = T c̃(p)
        return z @ wu[0, 0] + bu + fs[0].astype(np.float64).mean((0, 1))

    np.testing.assert_allclose(np.asarray(model.transform(jnp.asarray(fc), jnp.asarray(fs)))[0], reference(fc, fs),
                               rtol=1e-4, atol=1e-4)
    # the covariance and its 1/(h·w): with an identity FC the net returns G itself
    net = nnx.clone(model.cnet)
    net.fc_kernel[...] = jnp.eye(16)
    net.fc_bias[...] = jnp.zeros(16)
    cf = fc - fc.mean((1, 2), keepdims=True)
    np.testing.assert_allclose(np.asarray(net(jnp.asarray(cf)))[0], _np_covariance_net(net, cf[0])[1], rtol=1e-4,
                               atol=1e-5)
    # masked: a 3×4 content (24×32 px) padded into the 5×6 grid transforms as the crop
    pad = fc.copy()
    pad[:, 3:], pad[:, :, 4:] = 7.0, -5.0
    got = model.transform_prepared(jnp.asarray(pad), model.prepare_style(jnp.asarray(fs)),
                                   valid=jnp.asarray([[24, 32]]))
    np.testing.assert_allclose(np.asarray(got)[0, :3, :4], reference(fc[:, :3, :4], fs), rtol=1e-4, atol=1e-4)


def test_style_kernel_dynamic_conv_applies_the_predicted_kernels():
    """A tiny Style Kernel (C = 8, G = 2, K = 3, random kernel generator and output conv): ``transform`` equals
    ``W_o · y + b_o`` with ``y(p, c) = Σ_t k[p, g(c), t] · x(p + t, c) + β[p, g(c)]``, ``x`` the ShuffleNet-shuffled
    ``mvn(Z_c)`` reflection-padded, ``g(c) = c // (C/G)``, taps ``t = dy·K + dx``, and ``(k, β)`` the model's own
    ``kernels(align(Z_c, Z_s))`` per sample; the convolution is an explicit NumPy loop. Tolerance: rtol 1e-4,
    atol 1e-4."""
    cfg = sk_model.default_config()
    cfg.attn_dim, cfg.groups, cfg.kernel_hidden, cfg.kernel_init_std, cfg.out_init = 4, 2, 6, 0.5, "lecun"
    model = _build(sk_model.StyleKernel, {"relu1_1": 4, "relu2_1": 4, "relu3_1": 4, "relu4_1": 8}, cfg, 2)
    rng = np.random.default_rng(6)
    fc = rng.uniform(0.0, 2.0, (2, 4, 5, 8)).astype(np.float32)
    fs = rng.uniform(0.0, 2.0, (2, 3, 3, 8)).astype(np.float32)
    taps, bias, _ = model.kernels(model.align(jnp.asarray(fc), jnp.asarray(fs)))
    taps, bias = np.asarray(taps, np.float64), np.asarray(bias, np.float64)
    assert taps.shape == (2, 4, 5, 2, 9) and np.abs(taps[0] - taps[1]).max() > 1e-3  # per-sample kernels
    b, h, w, c = fc.shape
    g, kk = 2, 3
    x = _np_mvn(fc).reshape(b, h, w, g, c // g).swapaxes(-1, -2).reshape(b, h, w, c)  # ShuffleNet shuffle
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="reflect")
    y = np.zeros_like(x)
    for n in range(b):
        for i in range(h):
            for j in range(w):
                for ch in range(c):
                    grp = ch // (c // g)
                    acc = bias[n, i, j, grp]
                    for dy in range(kk):
                        for dx in range(kk):
                            acc += taps[n, i, j, grp, dy * kk + dx] * xp[n, i + dy, j + dx, ch]
                    y[n, i, j, ch] = acc
    wo, bo = _params(model.out)
    got = np.asarray(model.transform(jnp.asarray(fc), jnp.asarray(fs)))
    np.testing.assert_allclose(got, y @ wo + bo, rtol=1e-4, atol=1e-4)
