"""The evaluation metrics (``jaxstyle.evaluation``, spec baselines.md §6) on real photos and paintings: SSIM against
scikit-image, the grid energy on checkerboards of known period and amplitude, and the VGG-feature distances
against float64 NumPy recomputations from the features."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.ndimage import gaussian_filter
from skimage.metrics import structural_similarity

from jaxstyle import evaluation
from jaxstyle.losses import grid_energy

LUMA = np.array([0.299, 0.587, 0.114])  # YIQ's Y, the grey level the metrics work on


def _grey_rgb(g):
    return jnp.asarray(np.repeat(g[None, ..., None], 3, axis=-1))


def test_ssim_matches_the_reference_definition():
    y, x = np.mgrid[0:40, 0:48].astype(np.float32)
    a = 0.5 + 0.4 * np.sin(x / 3) * np.cos(y / 5)
    b = 0.5 + 0.4 * np.sin(x / 3.5 + 0.3) * np.cos(y / 4)
    # scikit-image 0.25: structural_similarity(a, b, data_range=1, gaussian_weights=True, sigma=1.5,
    # use_sample_covariance=False) on the same arrays
    np.testing.assert_allclose(float(evaluation.ssim(_grey_rgb(a), _grey_rgb(b))[0]), 0.2840457642309494, atol=1e-5)
    np.testing.assert_allclose(float(evaluation.ssim(_grey_rgb(a), _grey_rgb(a))[0]), 1.0, atol=1e-6)


def test_ssim_falls_with_noise(content_photos):
    x = jnp.asarray(content_photos[:1])
    rng = np.random.default_rng(0)
    scores = [float(evaluation.ssim(x, jnp.clip(x + s * rng.normal(size=x.shape), 0, 1))[0]) for s in (0.02, 0.1, 0.3)]
    assert scores[0] > scores[1] > scores[2], scores


def test_feature_distances(vgg, content_photos, style_images):
    c, s = jnp.asarray(content_photos[:1]), jnp.asarray(style_images[:1])
    assert float(evaluation.content_distance(vgg, c, c)) == pytest.approx(0.0, abs=1e-6)
    assert float(evaluation.style_distance(vgg, s, s)) == pytest.approx(0.0, abs=1e-6)
    assert float(evaluation.content_distance(vgg, s, c)) > 0.5
    assert float(evaluation.style_distance(vgg, c, s)) > 1.0


def test_output_distance(vgg, content_photos, style_images):
    """0 for the same image, symmetric, larger for a painting than for a slightly noisy copy of the photo."""
    c, s = jnp.asarray(content_photos[:1]), jnp.asarray(style_images[:1])
    noisy = jnp.clip(c + 0.02 * jax.random.normal(jax.random.key(0), c.shape), 0, 1)
    same, pix_same = (float(v) for v in evaluation.output_distance(vgg, c, c))
    near, pix_near = (float(v) for v in evaluation.output_distance(vgg, c, noisy))
    far, pix_far = (float(v) for v in evaluation.output_distance(vgg, c, s))
    assert same == pytest.approx(0.0, abs=1e-6) and pix_same == 0.0
    assert float(evaluation.output_distance(vgg, s, c)[0]) == pytest.approx(far, rel=1e-5)
    assert 0 < near < 0.5 * far <= 2.0 and 0 < pix_near < pix_far


def test_grid_artifact(content_photos):
    """Low on real photos (0.16, 0.0), about 0.3 once a faint (±0.03) 4-px checker is added; shifting the checker
    does not hide it."""
    c = jnp.asarray(content_photos[:2])
    base = np.asarray(evaluation.grid_artifact(c))
    yy, xx = np.meshgrid(np.arange(c.shape[1]), np.arange(c.shape[2]), indexing="ij")
    checker = 0.03 * np.where((yy // 2 + xx // 2) % 2, 1.0, -1.0)[None, :, :, None]
    grid = np.asarray(evaluation.grid_artifact(jnp.clip(c + checker, 0, 1)))
    shifted = np.asarray(evaluation.grid_artifact(jnp.clip(c + np.roll(checker, (3, 5), (1, 2)), 0, 1)))
    assert base.shape == (2,) and np.all(base < 0.2), base
    assert np.all(grid > np.maximum(base + 0.1, 0.25)) and np.allclose(grid, shifted, atol=0.05), (grid, shifted)
    # its loss form (losses.grid_energy's phase) has a gradient that removes the checker: one step lowers it
    x = jnp.clip(c + checker, 0, 1).astype(jnp.float32)
    energy = lambda x: jnp.sum(grid_energy(x)[0])  # noqa: E731
    g = jax.grad(energy)(x)
    assert float(energy(x - 0.1 * g / jnp.abs(g).max())) < 0.2 * float(energy(x))


def test_ssim_equals_scikit_image_on_real_image_pairs(content_photos):
    """``ssim(a, b)`` = scikit-image's ``structural_similarity`` (Gaussian window σ = 1.5, 11 taps, population
    covariances, data_range 1, C1 = (0.01)², C2 = (0.03)², mean over the valid positions) of the grey (YIQ Y)
    images, for a real photo against its noisy (σ 0.08), blurred (σ 1.2 px) and shifted (2, −3 px) copies; on
    grey RGB images it also equals scikit-image's per-channel mean (``channel_axis=-1``). Tolerance: atol 2e-5."""
    rng = np.random.default_rng(0)
    c = content_photos[0, :40, :48].astype(np.float64)
    others = {"noise": np.clip(c + 0.08 * rng.normal(size=c.shape), 0, 1), "blur": gaussian_filter(c, (1.2, 1.2, 0)),
              "shift": np.roll(c, (2, -3), (0, 1))}
    kw = dict(gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1.0)
    a = jnp.asarray(np.stack([c] * 3), jnp.float32)
    b = jnp.asarray(np.stack(list(others.values())), jnp.float32)
    got = np.asarray(evaluation.ssim(a, b))
    want = [structural_similarity(c @ LUMA, o @ LUMA, **kw) for o in others.values()]
    np.testing.assert_allclose(got, want, atol=2e-5)
    assert 0.1 < min(want) and max(want) < 0.95  # informative pairs, far from 0 and 1
    grey = [np.repeat((x @ LUMA)[..., None], 3, -1) for x in (c, others["blur"])]
    np.testing.assert_allclose(float(evaluation.ssim(*(jnp.asarray(g[None], jnp.float32) for g in grey))[0]),
                               structural_similarity(*grey, channel_axis=-1, **kw), atol=2e-5)


def _np_grid_energy(grey, period):
    """The documented formula in float64: high-pass ``hp = g − mean_3×3(g)`` on the interior, cut into
    ``period × period`` blocks from the top left, less its mean; ``phase = mean_phase(mean_blocks hp)²``,
    ``power = mean hp²``."""
    h, w = grey.shape
    box = sum(grey[dy:h - 2 + dy, dx:w - 2 + dx] for dy in range(3) for dx in range(3)) / 9
    hp = grey[1:-1, 1:-1] - box
    nh, nw = (h - 2) // period, (w - 2) // period
    blocks = hp[:nh * period, :nw * period].reshape(nh, period, nw, period)
    blocks = blocks - blocks.mean()
    return (blocks.mean(axis=(0, 2)) ** 2).mean(), (blocks ** 2).mean(), nh * nw


def test_grid_energy_of_checkerboards_of_known_period_and_amplitude():
    """A one-pixel checker ``0.5 ± a``: its 3×3 mean is ``±a/9``, so ``hp = ±8a/9`` everywhere and ``phase = power =
    (8a/9)²``; ``grid_artifact = sqrt(1 − 1/blocks)`` (the chance level ``power/blocks`` subtracted), 20 blocks of
    8×8 here. A 4-px checker (period 8) at another amplitude equals the NumPy formula and scales as ``a²``. A linear
    ramp has no high-pass (energy ≈ 0, artifact ≈ 0); a smooth random field has energy ≪ the checker's. Tolerance:
    rtol 1e-5 (float32)."""
    yy, xx = np.mgrid[0:34, 0:42]
    a = 0.1
    pixel = 0.5 + a * np.where((yy + xx) % 2, 1.0, -1.0)
    phase, power = (float(v[0]) for v in grid_energy(_grey_rgb(pixel.astype(np.float32))))
    assert phase == pytest.approx((8 * a / 9) ** 2, rel=1e-5) and power == pytest.approx((8 * a / 9) ** 2, rel=1e-5)
    assert float(evaluation.grid_artifact(_grey_rgb(pixel.astype(np.float32)))[0]) == pytest.approx(
        np.sqrt(1 - 1 / 20), rel=1e-5)
    square = np.where((yy // 4 + xx // 4) % 2, 1.0, -1.0)
    phases = []
    for amp in (0.05, 0.2):
        img = (0.5 + amp * square).astype(np.float32)
        ph, pw, blocks = _np_grid_energy(img.astype(np.float64), 8)
        got = [float(v[0]) for v in grid_energy(_grey_rgb(img))]
        np.testing.assert_allclose(got, [ph, pw], rtol=1e-5)
        phases.append(got[0])
        assert float(evaluation.grid_artifact(_grey_rgb(img))[0]) == pytest.approx(
            np.sqrt((ph - pw / blocks) / pw), rel=1e-5)
    np.testing.assert_allclose(phases[1], phases[0] * (0.2 / 0.05) ** 2, rtol=1e-5)
    ramp = (0.2 + 0.01 * yy + 0.005 * xx).astype(np.float32)
    assert max(float(v[0]) for v in grid_energy(_grey_rgb(ramp))) < 1e-12
    assert float(evaluation.grid_artifact(_grey_rgb(ramp))[0]) < 0.05
    # a smooth bowl: its high-pass is a constant (the curvature), which repeats in every block but is no grid
    bowl = (0.2 + 0.6 * ((yy - 17) ** 2 + (xx - 21) ** 2) / (17 ** 2 + 21 ** 2)).astype(np.float32)
    assert float(evaluation.grid_artifact(_grey_rgb(bowl))[0]) < 0.05
    smooth = (0.5 + 3 * gaussian_filter(np.random.default_rng(1).normal(size=yy.shape), 4)).astype(np.float32)
    assert float(grid_energy(_grey_rgb(smooth))[0][0]) < 1e-4 * phase


def _np_mvn(f):
    f = np.asarray(f, np.float64)
    n = f.shape[1] * f.shape[2]
    m = f.mean((1, 2), keepdims=True)
    return (f - m) / np.sqrt(((f - m) ** 2).sum((1, 2), keepdims=True) / (n - 1) + 1e-5)


def _np_mean_std(f):
    f = np.asarray(f, np.float64)
    n = f.shape[1] * f.shape[2]
    m = f.mean((1, 2))
    return m, np.sqrt(((f - m[:, None, None]) ** 2).sum((1, 2)) / (n - 1) + 1e-5)


def test_feature_distances_equal_numpy_recomputations(vgg, content_photos, style_images):
    """On a photo/painting pair (non-zero values), from the VGG-19 features recomputed in float64:
    ``content_distance = mean_{relu4_1, relu5_1} mean((mvn φ(o) − mvn φ(c))²)`` (mvn: ddof 1, eps 1e-5 under the
    root); ``style_distance = Σ_{relu1_1..relu5_1} mean((μ_o − μ_s)²) + mean((σ_o − σ_s)²)``; ``output_distance =
    (mean_{relu3_1, relu4_1} |φa − φb|² / ½(|φa|² + |φb|²), mean |a − b|)``. The same image shapes as the tests
    above, so the eager VGG ops compile once. Tolerance: rtol 1e-4."""
    layers = evaluation.STYLE_LAYERS
    c, s = jnp.asarray(content_photos[:1]), jnp.asarray(style_images[:1])
    fc = {l: np.asarray(f, np.float64) for l, f in vgg(c, layers).items()}
    fs = {l: np.asarray(f, np.float64) for l, f in vgg(s, layers).items()}
    want_c = np.mean([np.mean((_np_mvn(fs[l]) - _np_mvn(fc[l])) ** 2) for l in evaluation.CONTENT_LAYERS])
    assert float(evaluation.content_distance(vgg, s, c)) == pytest.approx(want_c, rel=1e-4)
    want_s = sum(np.mean((a - b) ** 2) for l in layers for a, b in zip(_np_mean_std(fc[l]), _np_mean_std(fs[l])))
    assert float(evaluation.style_distance(vgg, c, s)) == pytest.approx(want_s, rel=1e-4)
    rel = np.mean([np.sum((fc[l] - fs[l]) ** 2) / (0.5 * (np.sum(fc[l] ** 2) + np.sum(fs[l] ** 2)))
                   for l in evaluation.DIVERSITY_LAYERS])
    feature, pixel = evaluation.output_distance(vgg, c, s)
    assert float(feature) == pytest.approx(rel, rel=1e-4)
    assert float(pixel) == pytest.approx(np.abs(np.float64(c) - np.asarray(s)).mean(), rel=1e-4)
