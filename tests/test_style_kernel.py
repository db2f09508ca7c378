"""Style Kernel (spec §4): the pure ops against brute-force references, the attention's blocking and style cap, the
real jitted train step, input checks and the alpha = 0 blend. Real VGG-19, 32x32 crops."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from conftest import run_train_steps
from jaxstyle.configs import style_kernel as style_kernel_config
from jaxstyle.losses import mse, style_stats_loss
from jaxstyle.models import style_kernel as sk
from jaxstyle.ops.norms import adain, mvn
from jaxstyle.params import flat_params, set_flat_params


@pytest.fixture(scope="module")
def model(vgg):
    return sk.build(sk.default_config(), rngs=nnx.Rngs(0), encoder=vgg)


@pytest.fixture(scope="module")
def crops(content_photos, style_images):
    return jnp.asarray(content_photos[:, :32, :32]), jnp.asarray(style_images[:, 16:48, 16:48])


def _dynamic_conv_loop(x, kernels, bias):
    """Brute force: every pixel, channel and tap, reflection padding (numpy, float64)."""
    b, h, w, c = x.shape
    g, k2 = kernels.shape[-2:]
    k = int(round(k2 ** 0.5))
    r = k // 2
    xp = np.pad(x, ((0, 0), (r, r), (r, r), (0, 0)), mode="reflect").astype(np.float64)
    out = np.zeros((b, h, w, c))
    for i in range(h):
        for j in range(w):
            for ch in range(c):
                grp = ch // (c // g)
                acc = bias[:, i, j, grp].astype(np.float64)
                for dy in range(k):
                    for dx in range(k):
                        acc = acc + kernels[:, i, j, grp, dy * k + dx] * xp[:, i + dy, j + dx, ch]
                out[:, i, j, ch] = acc
    return out


@pytest.mark.parametrize("ksize", [3, 5])
def test_dynamic_conv_identity_and_brute_force(ksize):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 6, 5, 8)).astype(np.float32)
    g, k2 = 4, ksize * ksize
    ident = np.zeros((2, 6, 5, g, k2), np.float32)
    ident[..., k2 // 2] = 1.0
    np.testing.assert_array_equal(sk.dynamic_conv(jnp.asarray(x), jnp.asarray(ident)), x)
    kern = rng.standard_normal((2, 6, 5, g, k2)).astype(np.float32)
    bias = rng.standard_normal((2, 6, 5, g)).astype(np.float32)
    got = sk.dynamic_conv(jnp.asarray(x), jnp.asarray(kern), jnp.asarray(bias))
    assert got.shape == x.shape and got.dtype == jnp.float32
    np.testing.assert_allclose(got, _dynamic_conv_loop(x, kern, bias), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="do not fit"):
        sk.dynamic_conv(jnp.asarray(x), jnp.asarray(kern[..., :3, :]))  # 3 groups do not divide 8 channels


def test_channel_shuffle_is_shufflenets_permutation():
    b, c, g, h, w = 2, 12, 3, 2, 3
    x = np.random.default_rng(1).standard_normal((b, h, w, c)).astype(np.float32)
    nchw = x.transpose(0, 3, 1, 2)  # ShuffleNet: view (B, G, C/G, H, W), swap the group axes, flatten
    want = nchw.reshape(b, g, c // g, h, w).transpose(0, 2, 1, 3, 4).reshape(b, c, h, w).transpose(0, 2, 3, 1)
    np.testing.assert_array_equal(sk.channel_shuffle(jnp.asarray(x), g), want)
    perm = np.asarray(sk.channel_shuffle(jnp.arange(c), g))
    assert sorted(perm) == list(range(c)) and not np.array_equal(perm, np.arange(c))
    np.testing.assert_array_equal(perm, sk.shuffle_permutation(c, g))
    np.testing.assert_array_equal(sk.channel_shuffle(jnp.asarray(x), g), x[..., perm])


def test_blocked_attention_equals_dense_and_style_cap(model):
    rng = np.random.default_rng(2)
    b, nc, ns, d, c = 2, 13, 9, 8, 6
    q, k = rng.standard_normal((b, nc, d)), rng.standard_normal((b, ns, d))
    v, t = rng.standard_normal((b, ns, c)), rng.uniform(0.05, 0.95, (b, nc))
    kappa = 50.0
    logits = np.einsum("bqd,bkd->bqk", q, k) / np.sqrt(d)  # dense reference, float64
    a = np.exp(logits - logits.max(-1, keepdims=True))
    a /= a.sum(-1, keepdims=True)
    gated = a / (1 + np.exp(-kappa * (a - t[..., None] * a.max(-1, keepdims=True))))
    want = np.einsum("bqk,bkc->bqc", gated / gated.sum(-1, keepdims=True), v)
    f32 = [jnp.asarray(z, jnp.float32) for z in (q, k, v, t)]
    for block in (4, 5, 13, 4096):  # padded last block, exact split, one block
        got = sk.gated_attention(*f32, kappa, block=block)
        assert got.shape == (b, nc, c)
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(sk.gated_attention(*f32, kappa, block=4, remat=True), want, rtol=1e-4, atol=1e-5)

    # the style cap: a no-op up to N_s, a fixed-size fixed-seed subset above it
    key = jax.random.key(0)
    kk, vv = sk.style_subset(f32[1], f32[2], ns, key)
    assert kk is f32[1] and vv is f32[2]
    k5, v5 = sk.style_subset(f32[1], f32[2], 5, key)
    assert k5.shape == (b, 5, d) and v5.shape == (b, 5, c)
    np.testing.assert_array_equal(k5, sk.style_subset(f32[1], f32[2], 5, key)[0])
    fc = jnp.asarray(rng.standard_normal((1, 4, 4, 512)), jnp.float32)
    fs = jnp.asarray(np.abs(rng.standard_normal((1, 4, 4, 512))), jnp.float32)
    full = model.transform(fc, fs)
    capped = nnx.clone(model)
    capped.max_sample = 16  # N_s = 16: skipped, same numbers
    np.testing.assert_array_equal(capped.transform(fc, fs), full)
    capped.max_sample = 7
    sub = capped.transform(fc, fs)
    assert sub.shape == full.shape and not np.allclose(sub, full)
    np.testing.assert_array_equal(sub, capped.transform(fc, fs))  # fixed seed: deterministic


@pytest.mark.parametrize("setting", ["shipped", pytest.param("spec", marks=pytest.mark.slow)])
def test_bfloat16_train_step_traces_once_updates_every_parameter_and_losses_fall(vgg, model, crops, setting):
    """The shipped model's setting (the cpu config's: AdaIN input, per-channel modulation) and the spec's."""
    if setting == "shipped":
        cfg = sk.default_config()
        cpu = style_kernel_config.get_config("cpu").model
        cfg.update(kernel_input=cpu.kernel_input, channel_modulation=cpu.channel_modulation,
                   kernel_init_std=cpu.kernel_init_std)
        model = sk.build(cfg, rngs=nnx.Rngs(0), encoder=vgg)
    moved, losses, metrics, state, traces = run_train_steps(model, *crops, 10,  # Adam 1e-4 (the paper lr)
                                                            compute_dtype="bfloat16")
    assert all(moved.values()), moved
    assert set(metrics) == {"loss", "loss_content", "loss_style", "loss_id1", "loss_id2", "grad_norm", "finite"}
    assert all(np.isfinite(float(metrics[k])) for k in metrics) and np.isfinite(losses).all()
    assert len(traces) == 1
    assert int(state.step) == 10
    assert losses[-1] < 0.7 * losses[0], losses
    assert np.mean(losses[-3:]) < np.mean(losses[:3])


@pytest.mark.slow  # ~50 s; the default run keeps the train step whose losses fall
def test_loss_terms_match_their_definitions(model, crops, style_images):
    """The one-batch (c, s), (c, c), (s, s) path against the terms computed separately; a style of another size."""
    content, style = crops
    wide = jnp.asarray(style_images[:, 8:40, 8:48])  # 32x40: the per-shape path
    graphdef, state = nnx.split(model)

    @jax.jit
    def run(state, c, s, wide):
        m = nnx.merge(graphdef, state)
        layers = sk.LEVELS
        phi = lambda x: m.encoder(x, layers)  # noqa: E731
        fc, fs, fo = phi(c), phi(s), phi(m(c, s))
        i_cc, i_ss = m(c, c), m(s, s)
        want = {"loss_content": sum(mse(mvn(fo[l]), mvn(fc[l])) for l in ("relu4_1", "relu5_1")),
                "loss_style": style_stats_loss(fo, fs, layers),
                "loss_id1": mse(i_cc, c) + mse(i_ss, s),
                "loss_id2": sum(mse(phi(i_cc)[l], fc[l]) + mse(phi(i_ss)[l], fs[l]) for l in layers)}
        full, full_wide = m.loss(c, s), m.loss(c, wide)
        m.identity_samples = 1  # the identity terms of the first sample only; content and style terms unchanged
        want1 = {**want, "loss_id1": mse(i_cc[:1], c[:1]) + mse(i_ss[:1], s[:1]),
                 "loss_id2": sum(mse(phi(i_cc)[l][:1], fc[l][:1]) + mse(phi(i_ss)[l][:1], fs[l][:1])
                                 for l in layers)}
        return full, want, full_wide, m.loss(c, s)[1], want1, m.loss(c, wide)[1]

    (total, aux), want, (total_wide, aux_wide), aux1, want1, aux1_wide = run(state, content, style, wide)
    for k in want1:
        np.testing.assert_allclose(aux1[k], want1[k], rtol=2e-4, err_msg=f"identity_samples=1: {k}")
    for k in ("loss_content", "loss_style"):
        np.testing.assert_allclose(aux1_wide[k], aux_wide[k], rtol=2e-4, err_msg=f"identity_samples=1, wide: {k}")
    assert set(aux) == set(want) and all(aux[k].shape == () and aux[k].dtype == jnp.float32 for k in aux)
    for k in want:
        np.testing.assert_allclose(aux[k], want[k], rtol=2e-4, err_msg=k)
    np.testing.assert_allclose(total, aux["loss_content"] + 3 * aux["loss_style"] + 50 * aux["loss_id1"]
                               + aux["loss_id2"], rtol=1e-5)
    assert np.isfinite(float(total_wide)) and set(aux_wide) == set(aux)


@pytest.mark.parametrize("content_shape, style_shape, match", [
    ((1, 36, 36, 3), (1, 32, 32, 3), "content is 36x36; each side must be a multiple of 8"),
    ((1, 32, 32, 3), (1, 32, 40, 3), None),
    ((32, 32), (1, 32, 32, 3), r"content must be a batch of RGB images \[B, H, W, 3\]"),
    ((1, 32, 32, 1), (1, 32, 32, 3), "RGB"),
    ((1, 8, 8, 3), (1, 32, 32, 3), "content is 8x8, too small: each side must be at least 16 px"),
    ((1, 32, 32, 3), (1, 8, 16, 3), "style is 8x16, too small"),
    ((2, 32, 32, 3), (3, 32, 32, 3), "style batch 3"),
])
def test_bad_sizes_raise_one_value_error_before_heavy_work(model, monkeypatch, content_shape, style_shape, match):
    def no_heavy_work(*args, **kwargs):
        raise AssertionError("the encoder ran before the input check")

    monkeypatch.setattr(type(model.encoder), "__call__", no_heavy_work)
    content, style = jnp.zeros(content_shape), jnp.zeros(style_shape)
    if match is None:  # sizes that fit reach the encoder
        with pytest.raises(AssertionError, match="encoder ran"):
            model(content, style)
        return
    for run in (lambda: model(content, style), lambda: model.loss(content, style)):
        with pytest.raises(ValueError, match=match):
            run()


def test_loss_needs_two_relu5_1_positions(model):
    model.check_inputs((1, 16, 16, 3), (1, 16, 16, 3))  # inference: relu4_1 is 2x2
    with pytest.raises(ValueError, match="relu5_1 would be 1x1"):
        model.loss(jnp.zeros((1, 16, 16, 3)), jnp.zeros((1, 16, 16, 3)))


def test_alpha_zero_is_decode_of_content_features(model, crops):
    content, style = crops
    fc = model.encode(content)
    out = model(content, style[:1], alpha=0.0)  # a single style broadcasts over the content batch
    assert out.shape == content.shape and out.dtype == jnp.float32
    np.testing.assert_allclose(out, model.decode(fc), rtol=1e-6, atol=1e-6)
    t = model.transform(fc, model.encode(style))
    assert t.shape == fc.shape and np.isfinite(np.asarray(t)).all()
    np.testing.assert_array_equal(model.transform(fc, model.encode(style), alpha=0.0), fc)
    assert set(model.targets(t)) == {"relu4_1"}


def test_config_variants_and_bad_config(vgg):
    for variant in ("", "tiny", "cpu", "paper"):
        c = style_kernel_config.get_config(variant)
        assert c.method == "style_kernel" and set(c.model) == set(sk.default_config()) | {"compute_dtype"}
    cpu = style_kernel_config.get_config("cpu")
    assert cpu.train.num_steps == 1000 and cpu.model.identity_samples == 1 and cpu.train.init_decoder_from
    assert (cpu.model.kernel_input, cpu.model.channel_modulation) == ("adain", "affine")  # the shipped model's
    assert style_kernel_config.get_config("").model.kernel_input == "mvn"  # the spec's
    for key, value, match in (("groups", 7, "groups=7"), ("kernel_size", 4, "kernel_size=4"),
                              ("tap_norm", "l1", "tap_norm"), ("style_layers", ("relu9_1",), "relu9_1"),
                              ("identity_samples", -1, "identity_samples=-1"),
                              ("channel_modulation", "scale", "channel_modulation"),
                              ("kernel_input", "z_c", "kernel_input")):
        bad = sk.default_config()
        bad[key] = value
        with pytest.raises(ValueError, match=match):
            sk.build(bad, rngs=nnx.Rngs(0), encoder=vgg)


@pytest.mark.parametrize("mode", ["bias", "affine"])
def test_channel_modulation_starts_as_the_spec_model_and_reaches_every_channel(vgg, model, crops, mode):
    """Zero-initialised, the per-channel terms leave the spec's transform unchanged (so a trained spec model
    warm-starts into it exactly); set, they shift (and, affine, rescale) each of the 512 channels on their own."""
    cfg = sk.default_config()
    cfg.channel_modulation = mode
    m = sk.build(cfg, rngs=nnx.Rngs(1), encoder=vgg)
    set_flat_params(m, flat_params(model), strict=False)  # every parameter but the new head
    fc, fs = model.encode(crops[0]), model.encode(crops[1])
    base = np.asarray(model.transform(fc, fs))
    np.testing.assert_allclose(m.transform(fc, fs), base, rtol=1e-6, atol=1e-6)
    c = fc.shape[-1]
    v = np.random.default_rng(0).normal(size=c).astype(np.float32)
    w_o, b_o = np.asarray(model.out.kernel[...]), np.asarray(model.out.bias[...])
    if mode == "bias":  # y + v
        m.modulation.bias[...] = jnp.asarray(v)
        np.testing.assert_allclose(m.transform(fc, fs), base + v @ w_o, rtol=1e-4, atol=1e-4)
    else:  # y * (1 - 1) + v = v: every position becomes the same vector, whatever the content
        m.modulation.bias[...] = jnp.asarray(np.concatenate([-np.ones(c, np.float32), v]))
        want = np.broadcast_to(v @ w_o + b_o, base.shape)
        np.testing.assert_allclose(m.transform(fc, fs), want, rtol=1e-4, atol=1e-4)


def test_adain_kernel_input_starts_as_adain(vgg, crops):
    """``kernel_input="adain"``: identity kernels and the unshuffle projection pass AdaIN(Z_c, Z_s) through (at
    ``kernel_init_std=0``; the default's small random taps perturb it)."""
    cfg = sk.default_config()
    cfg.update(kernel_input="adain", kernel_init_std=0.0)
    m = sk.build(cfg, rngs=nnx.Rngs(0), encoder=vgg)
    fc, fs = m.encode(crops[0]), m.encode(crops[1])
    want = np.asarray(adain(fc, fs))
    np.testing.assert_allclose(m.transform(fc, fs), want, rtol=1e-5, atol=1e-4)
    assert np.abs(np.asarray(sk.build(sk.default_config(), rngs=nnx.Rngs(0), encoder=vgg).transform(fc, fs))
                  - want).max() > 0.2 * np.abs(want).max()  # the spec's input (mvn) does not
