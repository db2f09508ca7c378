"""Every training loss term of every method, and the helpers of ``jaxstyle/losses.py``, against NumPy float64
references written here from the formulas of ``shared/spec/baselines.md`` and ``shared/spec/gnn_style_transfer.md``.

What comes from the project: the frozen VGG-19's features (checked against torch elsewhere) and the model's forward
intermediates (the decoded image, GNN's ``F_cs`` and ``π``), obtained from the public submethods in the order
``loss`` calls them, eagerly (the same ops as inside ``loss``). Every piece of loss arithmetic — the targets (AdaIN's
``t``, AdaAttN*'s attention-weighted mean/std, the mvn maps), the statistics (``σ = sqrt(var_unbiased + 1e-5)``),
LST's summed Gram/mean errors, the identity terms, TV, the grid energy, the scale entropy and the weighted totals with
the config's weights — is recomputed in float64 from those float32 tensors.

Tolerance: ``RTOL = 1e-4`` on every term and total. The project reduces in float32 (relative rounding ≈ 6e-8 per
operation, growing to ~1e-6 over the ≤ 2·32·32·64-element means here and through AdaAttN's float32 softmax of
logits ~1e2–1e3); measured deviations are ≤ 3e-6 (the largest: the tiny grid term and AdaAttN's local loss), so 1e-4
leaves a 30× margin. The optional weights are chosen so that every term is ≥ 1e-3 of its total: leaving a term out
of the total, or giving it another weight, moves the total by more than RTOL.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jaxstyle import losses
from jaxstyle.models import adaattn, adain, gnn, lst, style_kernel

RTOL = 1e-4
EPS = 1e-5                            # σ = sqrt(var_unbiased + EPS), as the AdaIN reference code
LUMA = np.array([0.299, 0.587, 0.114])  # YIQ's Y (NTSC luma)
LEVELS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")


# ------------------------------------------------------------------------------------------------------------------
# float64 references
# ------------------------------------------------------------------------------------------------------------------


def f64(x) -> np.ndarray:
    return np.asarray(x, np.float64)


def ref_mse(a, b) -> float:
    """mean over every element of (a − b)² (torch ``MSELoss``)."""
    d = f64(a) - f64(b)
    return float(np.sum(d * d) / d.size)


def ref_mean_std(x) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample, per-channel spatial μ and σ = sqrt(Σ(x − μ)² / (n − 1) + 1e-5), each ``[B, C]``."""
    x = f64(x)
    b, h, w, c = x.shape
    flat = x.reshape(b, h * w, c)
    mu = flat.sum(1) / (h * w)
    var = np.square(flat - mu[:, None]).sum(1) / (h * w - 1)
    return mu, np.sqrt(var + EPS)


def ref_mvn(x) -> np.ndarray:
    mu, sd = ref_mean_std(x)
    return (f64(x) - mu[:, None, None]) / sd[:, None, None]


def ref_adain(c, s) -> np.ndarray:
    """σ(s)·(c − μ(c))/σ(c) + μ(s)."""
    mu_s, sd_s = ref_mean_std(s)
    return ref_mvn(c) * sd_s[:, None, None] + mu_s[:, None, None]


def ref_style_stats(out: dict, style: dict, layers) -> float:
    """Σ_l MSE(μ_l(out), μ_l(s)) + MSE(σ_l(out), σ_l(s))."""
    total = 0.0
    for l in layers:
        (mo, so), (ms, ss) = ref_mean_std(out[l]), ref_mean_std(style[l])
        total += np.mean((mo - ms) ** 2) + np.mean((so - ss) ** 2)
    return float(total)


def ref_tv(img) -> float:
    """mean of squared vertical neighbour differences + mean of squared horizontal ones."""
    x = f64(img)
    return float(np.mean(np.diff(x, axis=1) ** 2) + np.mean(np.diff(x, axis=2) ** 2))


def ref_grid_energy(img, period: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """``(phase, power)`` per image: hp = luma − its 3×3 box mean (interior pixels); over the whole ``period``-blocks
    (from the top left), less its mean, ``phase`` = mean over the period² phases of (that phase's mean over blocks)²,
    ``power`` = mean of hp²."""
    grey = f64(img) @ LUMA
    b, h, w = grey.shape
    box = np.lib.stride_tricks.sliding_window_view(grey, (3, 3), axis=(1, 2)).mean(axis=(-2, -1))
    hp = grey[:, 1:-1, 1:-1] - box
    nh, nw = (h - 2) // period, (w - 2) // period
    hp = hp[:, :nh * period, :nw * period]
    hp = hp - hp.mean(axis=(1, 2), keepdims=True)
    phase = np.zeros(b)
    for dy in range(period):
        for dx in range(period):
            phase += hp[:, dy::period, dx::period].mean(axis=(1, 2)) ** 2
    return phase / period ** 2, (hp ** 2).mean(axis=(1, 2))


def ref_priors(out, tv_weight: float, grid_weight: float) -> tuple[float, dict]:
    """λ_tv·TV + λ_grid·mean_b phase_b, terms with weight 0 left out."""
    aux = {}
    if tv_weight:
        aux["loss_tv"] = ref_tv(out)
    if grid_weight:
        aux["loss_grid"] = float(np.mean(ref_grid_energy(out)[0]))
    return tv_weight * aux.get("loss_tv", 0.0) + grid_weight * aux.get("loss_grid", 0.0), aux


def ref_resize_nearest(x, size) -> np.ndarray:
    """PyTorch ``interpolate(mode="nearest")``: output i reads input floor(i·H/h)."""
    x = f64(x)
    hi = np.floor(np.arange(size[0]) * x.shape[1] / size[0]).astype(int)
    wi = np.floor(np.arange(size[1]) * x.shape[2] / size[1]).astype(int)
    return x[:, hi][:, :, wi]


def ref_adaattn_target(fc: dict, fs: dict, level: str) -> np.ndarray:
    """AdaAttN* (f, g, h = identity): keys K̃^x = concat_{l ≤ x} mvn(nearest(F^l → size of F^x)),
    A = softmax_j(K̃_c,i · K̃_s,j) (no scaling), M = A F_s, S = sqrt(relu(A F_s² − M²)), target S·mvn(F_c^x) + M."""
    upto = LEVELS[: LEVELS.index(level) + 1]

    def keys(f):
        size = f[level].shape[1:3]
        k = np.concatenate([ref_mvn(ref_resize_nearest(f[l], size)) for l in upto], axis=-1)
        return k.reshape(k.shape[0], -1, k.shape[-1])

    kc, ks = keys(fc), keys(fs)
    v = f64(fs[level]).reshape(kc.shape[0], -1, fs[level].shape[-1])
    logits = kc @ ks.transpose(0, 2, 1)
    a = np.exp(logits - logits.max(-1, keepdims=True))
    a /= a.sum(-1, keepdims=True)
    m = a @ v
    s = np.sqrt(np.maximum(a @ v ** 2 - m ** 2, 0.0))
    shape = fc[level].shape
    return s.reshape(shape) * ref_mvn(fc[level]) + m.reshape(shape)


def ref_lst_style(out, style) -> float:
    """(‖μ(out) − μ(s)‖²_sum + ‖G(out) − G(s)‖²_sum) / B, G(F) = FᵀF/(C·h·w) (uncentred) per sample."""
    def stats(f):
        f = f64(f)
        b, h, w, c = f.shape
        x = f.reshape(b, h * w, c)
        return x.mean(1), np.einsum("bni,bnj->bij", x, x) / (c * h * w)

    (mo, go), (ms, gs) = stats(out), stats(style)
    return float((np.sum((mo - ms) ** 2) + np.sum((go - gs) ** 2)) / out.shape[0])


def check(total, aux, want_total: float, want: dict, rtol: float = RTOL) -> None:
    """The model's ``(total, aux)`` equal the references: same keys, each term, and the weighted total."""
    assert set(aux) == set(want), (sorted(aux), sorted(want))
    for k, v in want.items():
        assert aux[k].shape == () and aux[k].dtype == jnp.float32, k
        np.testing.assert_allclose(float(aux[k]), v, rtol=rtol, err_msg=k)
    np.testing.assert_allclose(float(total), want_total, rtol=rtol, err_msg="weighted total")


@pytest.fixture(scope="module")
def crops(content_photos, style_images):
    """Two real 32×32 contents and two 32×32 styles (relu5_1 is 2×2: σ still defined)."""
    return jnp.asarray(content_photos[:, :32, :32]), jnp.asarray(style_images[:, 16:48, 16:48])


# ------------------------------------------------------------------------------------------------------------------
# jaxstyle/losses.py
# ------------------------------------------------------------------------------------------------------------------


def test_loss_helpers_match_their_formulas():
    """mse = mean (a−b)²; content_loss = mse; style_stats_loss = Σ_l MSE(μ) + MSE(σ), σ = sqrt(var_{n−1} + 1e-5)
    (a constant channel makes σ = sqrt(1e-5): the eps is visible; 3×3 maps make n − 1 vs n a 12 % change)."""
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(2, 5, 7, 3)).astype(np.float32), rng.normal(size=(2, 5, 7, 3)).astype(np.float32)
    np.testing.assert_allclose(float(losses.mse(a, b)), ref_mse(a, b), rtol=RTOL)
    np.testing.assert_allclose(float(losses.content_loss(a, b)), ref_mse(a, b), rtol=RTOL)
    out = {"x": rng.normal(1.0, 2.0, (2, 3, 3, 6)).astype(np.float32),
           "y": rng.normal(size=(2, 4, 5, 4)).astype(np.float32)}
    style = {"x": rng.normal(size=(2, 6, 4, 6)).astype(np.float32),
             "y": rng.normal(size=(2, 2, 3, 4)).astype(np.float32)}
    out["x"][..., 0] = 0.7           # a constant channel: σ = sqrt(eps)
    for layers in (("x",), ("x", "y")):
        np.testing.assert_allclose(float(losses.style_stats_loss(out, style, layers)),
                                   ref_style_stats(out, style, layers), rtol=RTOL, err_msg=str(layers))
    # the eps term alone: a constant channel (σ = sqrt(1e-5)) vs a zero-mean one of σ ≈ 0.01 (eps: 10 % of var)
    const = {"x": np.zeros((1, 3, 3, 1), np.float32)}
    tiny = {"x": 0.01 * rng.choice([-1.0, 1.0], size=(1, 3, 3, 1)).astype(np.float32)}
    tiny["x"] -= tiny["x"].mean()
    np.testing.assert_allclose(float(losses.style_stats_loss(const, tiny, ("x",))),
                               ref_style_stats(const, tiny, ("x",)), rtol=RTOL)


def test_total_variation_grid_energy_and_image_priors():
    """TV = mean(Δ_y x)² + mean(Δ_x x)²; grid_energy = (mean_phase (mean_blocks hp)², mean hp²) with hp = luma − 3×3
    box mean; image_priors = λ_tv·TV + λ_grid·mean phase, zero-weight terms left out."""
    rng = np.random.default_rng(1)
    img = rng.uniform(size=(2, 21, 30, 3)).astype(np.float32)  # 19×28 interior: 2×3 whole 8-blocks plus a remainder
    np.testing.assert_allclose(float(losses.total_variation(img)), ref_tv(img), rtol=RTOL)
    for period in (8, 4):
        phase, power = losses.grid_energy(img, period)
        want_phase, want_power = ref_grid_energy(img, period)
        assert phase.shape == power.shape == (2,)
        np.testing.assert_allclose(phase, want_phase, rtol=RTOL, err_msg=f"phase, period {period}")
        np.testing.assert_allclose(power, want_power, rtol=RTOL, err_msg=f"power, period {period}")
    # an 8-periodic texture: its whole high-pass repeats, so phase == power
    tile = rng.uniform(size=(1, 8, 8, 3))
    periodic = np.tile(tile, (1, 5, 5, 1))[:, 3:37, 3:37].astype(np.float32)
    phase, power = losses.grid_energy(periodic)
    np.testing.assert_allclose(phase, power, rtol=1e-4)
    np.testing.assert_allclose(phase, ref_grid_energy(periodic)[0], rtol=RTOL)
    for tv_w, grid_w in ((0.0, 0.0), (3.0, 0.0), (0.0, 50.0), (3.0, 50.0)):
        total, aux = losses.image_priors(jnp.asarray(img), tv_weight=tv_w, grid_weight=grid_w)
        want_total, want = ref_priors(img, tv_w, grid_w)
        check(total, aux, want_total, want)


# ------------------------------------------------------------------------------------------------------------------
# the five models
# ------------------------------------------------------------------------------------------------------------------


def test_adain_loss(vgg, crops):
    """L = λ_c·MSE(φ41(I_cs), t) + λ_s·Σ_{11..41}[MSE(μ) + MSE(σ)] + λ_id·MSE(Dec(F_c), I_c) + priors, with
    t = AdaIN(F_c, F_s) recomputed in float64 (spec §1: λ_c = 1, λ_s = 10)."""
    cfg = adain.default_config()
    assert (cfg.content_weight, cfg.style_weight) == (1.0, 10.0)
    assert tuple(cfg.style_layers) == LEVELS[:4]
    cfg.update(identity_weight=2.0, tv_weight=1e3, grid_weight=1e5)  # each term ≥ 1e-3 of the total
    m = adain.build(cfg, rngs=nnx.Rngs(0), encoder=vgg)
    c, s = crops
    total, aux = m.loss(c, s)

    fc, fs = vgg(c, LEVELS[:4]), vgg(s, LEVELS[:4])
    out = m.decoder(m.transform(fc["relu4_1"], fs["relu4_1"]))
    fo = vgg(out, LEVELS[:4])
    want = {"loss_content": ref_mse(fo["relu4_1"], ref_adain(fc["relu4_1"], fs["relu4_1"])),
            "loss_style": ref_style_stats(fo, fs, cfg.style_layers),
            "loss_identity": ref_mse(m.decoder(fc["relu4_1"]), c)}
    prior, want_priors = ref_priors(out, cfg.tv_weight, cfg.grid_weight)
    want_total = (cfg.content_weight * want["loss_content"] + cfg.style_weight * want["loss_style"]
                  + cfg.identity_weight * want["loss_identity"] + prior)
    check(total, aux, want_total, want | want_priors)


def test_lst_losses(vgg, crops):
    """Decoder stage: w_p·MSE(Dec(E(x)), x) + w_f·MSE(E(Dec(E(x))), E(x)). Transform stage (spec §3.3):
    1.0·MSE(φ41(I_cs), φ41(I_c)) + 0.02·Σ_{11..41}(‖μ_o − μ_s‖²_sum + ‖G_o − G_s‖²_sum)/B, G = FᵀF/(C·h·w)."""
    c, s = crops
    cfg = lst.default_config()
    assert (cfg.layer, tuple(cfg.content_layers), tuple(cfg.style_layers)) == ("relu4_1", ("relu4_1",), LEVELS[:4])
    assert (cfg.content_weight, cfg.style_weight) == (1.0, 0.02)
    m = lst.build(cfg, rngs=nnx.Rngs(0), encoder=vgg)
    total, aux = m.loss(c, s)
    fc, fs = vgg(c, LEVELS[:4]), vgg(s, LEVELS[:4])
    out = m.decoder(m.transform(fc["relu4_1"], fs["relu4_1"]))
    fo = vgg(out, LEVELS[:4])
    want = {"loss_content": sum(ref_mse(fo[l], fc[l]) for l in cfg.content_layers),
            "loss_style": sum(ref_lst_style(fo[l], fs[l]) for l in cfg.style_layers)}
    check(total, aux, cfg.content_weight * want["loss_content"] + cfg.style_weight * want["loss_style"], want)

    cfg.update(stage="decoder", recon_pixel_weight=2.0, recon_feature_weight=0.5)
    m = lst.build(cfg, rngs=nnx.Rngs(0), encoder=vgg)
    total, aux = m.loss(c, s)
    rec = m.decoder(fc["relu4_1"])
    want = {"loss_pixel": ref_mse(rec, c), "loss_feature": ref_mse(vgg(rec, ("relu4_1",))["relu4_1"], fc["relu4_1"])}
    check(total, aux, 2.0 * want["loss_pixel"] + 0.5 * want["loss_feature"], want)


def test_adaattn_loss(vgg, crops):
    """L = λ_g·Σ_{21..51}[MSE(μ) + MSE(σ)] + λ_l·Σ_{21..51} MSE(φ_x(I_cs), AdaAttN*(F_c^x, F_s^x)) + λ_c·Σ
    MSE(mvn φ_x(I_cs), mvn F_c^x) + λ_id·MSE(I_cc, I_c); spec §2.3: λ_g = 10, λ_l = 3, layers relu2_1..relu5_1."""
    cfg = adaattn.default_config()
    assert (cfg.global_weight, cfg.local_weight, cfg.content_weight) == (10.0, 3.0, 0.0)
    assert tuple(cfg.loss_layers) == LEVELS[1:]
    assert 16 * 16 <= cfg.loss_max_sample  # no style subsampling at 32 px: the targets see every position
    cfg.update(content_weight=0.5, identity_weight=2.0)
    m = adaattn.build(cfg, rngs=nnx.Rngs(0), encoder=vgg)
    # N(0, 0.02) init leaves the untrained output at ~0.04 rms, so MSE(I_cc, I_c) ≈ mean I_c² whatever I_cc is;
    # ×20 on the last conv gives an image of the content's scale (the formulas hold for any parameters)
    m.decoder.convs[-1].kernel[...] = 20.0 * m.decoder.convs[-1].kernel[...]
    c, s = crops
    key = jax.random.key(3)
    total, aux = m.loss(c, s, key=key)

    fc, fs = m.encode(c), m.encode(s)
    out = m.decode(m.transform(fc, fs, key=key))
    fo = vgg(out, cfg.loss_layers)
    layers = tuple(cfg.loss_layers)
    want = {"loss_global": ref_style_stats(fo, fs, layers),
            "loss_local": sum(ref_mse(fo[l], ref_adaattn_target(fc, fs, l)) for l in layers),
            "loss_content": sum(ref_mse(ref_mvn(fo[l]), ref_mvn(fc[l])) for l in layers),
            "loss_identity": ref_mse(m.decode(m.transform(fc, fc, key=key)), c)}
    want_total = (cfg.global_weight * want["loss_global"] + cfg.local_weight * want["loss_local"]
                  + cfg.content_weight * want["loss_content"] + cfg.identity_weight * want["loss_identity"])
    check(total, aux, want_total, want)


def test_style_kernel_loss(vgg, crops):
    """L = λ_c·Σ_{41,51} MSE(mvn φ(I_cs), mvn φ(I_c)) + λ_s·Σ_{11..51}[MSE(μ) + MSE(σ)] + λ_id1·(MSE(I_cc, I_c) +
    MSE(I_ss, I_s)) + λ_id2·Σ_{11..51}(MSE(φ(I_cc), φ(I_c)) + MSE(φ(I_ss), φ(I_s))); SANet's 1, 3, 50, 1. The
    identity terms run over the first ``identity_samples`` samples: 1 of 2 here (0 = all is the same formula with
    n = B), so the test also sees that they are taken over the right samples."""
    cfg = style_kernel.default_config()
    weights = (cfg.content_weight, cfg.style_weight, cfg.identity_pixel_weight, cfg.identity_feature_weight)
    assert weights == (1.0, 3.0, 50.0, 1.0)
    assert tuple(cfg.content_layers) == ("relu4_1", "relu5_1")
    assert tuple(cfg.style_layers) == tuple(cfg.identity_layers) == LEVELS
    cfg.identity_samples = n = 1
    m = style_kernel.build(cfg, rngs=nnx.Rngs(0), encoder=vgg)
    c, s = crops
    key = jax.random.key(5)
    total, aux = m.loss(c, s, key=key)

    # I_cs, I_cc, I_ss as one batch of B + 2n, as loss runs them (each sample's pass is independent of the others)
    feats = vgg(jnp.concatenate([c, s]), LEVELS)
    fc, fs = ({l: f[i * 2:(i + 1) * 2] for l, f in feats.items()} for i in (0, 1))
    c4, s4 = fc["relu4_1"], fs["relu4_1"]
    imgs = m.decode(m.transform(jnp.concatenate([c4, c4[:n], s4[:n]]), jnp.concatenate([s4, c4[:n], s4[:n]]),
                                key=key))
    fimgs = vgg(imgs, LEVELS)
    fo, fcc, fss = ({l: f[a:b] for l, f in fimgs.items()} for a, b in ((0, 2), (2, 2 + n), (2 + n, 2 + 2 * n)))
    i_cc, i_ss = imgs[2:2 + n], imgs[2 + n:]
    want = {"loss_content": sum(ref_mse(ref_mvn(fo[l]), ref_mvn(fc[l])) for l in cfg.content_layers),
            "loss_style": ref_style_stats(fo, fs, cfg.style_layers),
            "loss_id1": ref_mse(i_cc, c[:n]) + ref_mse(i_ss, s[:n]),
            "loss_id2": sum(ref_mse(fcc[l], fc[l][:n]) + ref_mse(fss[l], fs[l][:n]) for l in cfg.identity_layers)}
    want_total = sum(w * want[k] for w, k in zip(weights, ("loss_content", "loss_style", "loss_id1", "loss_id2")))
    check(total, aux, want_total, want)


def test_gnn_loss(vgg, crops):
    """Spec §9: L = λ_c·MSE(φ41(I_cs), sg(F_cs)) + λ_s·Σ_{11..41}[MSE(μ) + MSE(σ)] (λ = 1, 10) + λ_id·MSE(Dec(F_c),
    I_c) + λ_struct·MSE(mvn φ41(I_cs), mvn F_c) + priors + λ_H·(−mean Σ_S π log(π + 1e-8)); the gate metric is
    sigmoid(b) at its initial b."""
    cfg = gnn.default_config()
    assert (cfg.content_weight, cfg.style_weight, cfg.struct_weight) == (1.0, 10.0, 0.0)
    assert tuple(cfg.style_layers) == LEVELS[:4]
    cfg.update(patch_size=3, scales=(1, 2), k=3, k_content=3, heads=2, content_gate=True,  # 32 px: 4×4 nodes
               identity_weight=5.0, tv_weight=1e4, grid_weight=1e7, struct_weight=2.0, scale_entropy_weight=5.0)
    m = gnn.build(cfg, rngs=nnx.Rngs(0), encoder=vgg)
    c, s = crops
    key = jax.random.key(7)
    total, aux = m.loss(c, s, key=key)

    fc, fs = vgg(c, ("relu4_1",))["relu4_1"], vgg(s, LEVELS[:4])
    f_cs, pi = m.transfer(fc, fs["relu4_1"], k=cfg.k, key=key)
    out = m.decoder(f_cs)
    fo = vgg(out, LEVELS[:4])
    pi = f64(pi)
    assert pi.shape == (2, 4, 4, 2)
    want = {"loss_content": ref_mse(fo["relu4_1"], f_cs),
            "loss_style": ref_style_stats(fo, fs, cfg.style_layers),
            "loss_identity": ref_mse(m.decoder(fc), c),
            "loss_struct": ref_mse(ref_mvn(fo["relu4_1"]), ref_mvn(fc)),
            "scale_entropy": float(-np.mean(np.sum(pi * np.log(pi + 1e-8), axis=-1))),
            "content_gate": float(1.0 / (1.0 + np.exp(-cfg.gate_init[0])))}
    prior, want_priors = ref_priors(out, cfg.tv_weight, cfg.grid_weight)
    want_total = (cfg.content_weight * want["loss_content"] + cfg.style_weight * want["loss_style"]
                  + cfg.identity_weight * want["loss_identity"] + cfg.struct_weight * want["loss_struct"]
                  + cfg.scale_entropy_weight * want["scale_entropy"] + prior)
    check(total, aux, want_total, want | want_priors)
