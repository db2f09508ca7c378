"""The evaluation metrics (``jaxstyle.evaluation``, spec baselines.md §6) on real photos and paintings."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxstyle import evaluation
from jaxstyle.losses import grid_energy


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
