"""The user controls of ``jaxstyle.stylize``, checked for their effect on every method's shipped model.

* ``preserve_color``: the output keeps the content's chroma (YIQ's I, Q) and the plain output's luminance (Y),
  measured with a YIQ matrix written here (Gatys et al. 2016's luminance-only transfer);
* ``style_weights=(1, 0)`` and a mask of all ones equal the first style alone; a half mask takes each half from
  its own style;
* ``decoder="optimize"`` lowers its own objective.
"""

import numpy as np
import pytest

import jaxstyle
from jaxstyle.registry import METHODS as REGISTERED

METHODS = sorted(REGISTERED)

# NTSC RGB → YIQ (the standard coefficients, independent of jaxstyle.ops.color)
_YIQ = np.array([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]], np.float64)


def _yiq(x):
    return np.asarray(x, np.float64) @ _YIQ.T


@pytest.fixture(scope="module")
def images(content_photos, style_images):
    """A 48x40 photo (padded inside ``stylize``) and two 64x64 paintings."""
    return content_photos[0][:48, :40], style_images[0], style_images[1]


def test_every_registered_method_is_covered():
    assert set(METHODS) == {"adain", "adaattn", "gnn", "lst", "style_kernel"}


@pytest.mark.parametrize("method", METHODS)
def test_controls_have_their_effect(method, images, vgg_path):
    c, s0, s1 = images
    out = jaxstyle.stylize(c, s0, method=method)
    assert out.shape == c.shape and np.isfinite(out).all()
    assert np.abs(out - c).mean() > 0.02  # it stylizes at all

    # style_weights (1, 0) and an all-ones mask: the first style alone (the staged path vs the one-program path)
    np.testing.assert_allclose(jaxstyle.stylize(c, [s0, s1], method=method, style_weights=[1, 0]), out, atol=2e-4)
    np.testing.assert_allclose(jaxstyle.stylize(c, [s0, s1], method=method, mask=np.ones(c.shape[:2])), out,
                               atol=2e-4)
    other = jaxstyle.stylize(c, s1, method=method)
    half = np.zeros(c.shape[:2], np.float32)
    half[:, :20] = 1.0
    mixed = jaxstyle.stylize(c, [s0, s1], method=method, mask=half)
    # away from the seam (the decoder's receptive field), each half is much closer to its own style's output
    left, right = np.s_[:, :8], np.s_[:, 32:]
    assert np.abs(mixed[left] - out[left]).mean() < 0.5 * np.abs(mixed[left] - other[left]).mean()
    assert np.abs(mixed[right] - other[right]).mean() < 0.5 * np.abs(mixed[right] - out[right]).mean()

    # preserve_color: chroma from the content, luminance from the stylized output, wherever nothing was clipped
    kept = jaxstyle.stylize(c, s0, method=method, preserve_color=True)
    inside = ((kept > 1e-3) & (kept < 1 - 1e-3)).all(-1)
    assert inside.mean() > 0.5
    y_kept, y_c, y_out = _yiq(kept)[inside], _yiq(c)[inside], _yiq(out)[inside]
    np.testing.assert_allclose(y_kept[:, 1:], y_c[:, 1:], atol=2e-3)
    np.testing.assert_allclose(y_kept[:, 0], y_out[:, 0], atol=2e-3)
    assert np.abs(_yiq(out)[..., 1:] - _yiq(c)[..., 1:]).mean() > 5 * np.abs(y_kept[:, 1:] - y_c[:, 1:]).mean()


@pytest.mark.parametrize("method", METHODS)
def test_optimize_decoder_lowers_its_objective(method, images, vgg_path):
    c, s0, _ = images
    img, losses = jaxstyle.stylize(c, s0, method=method, decoder="optimize", steps=8, lr=0.03,
                                   return_losses=True)
    assert img.shape == c.shape and losses.shape == (8,) and np.isfinite(losses).all()
    assert losses[-1] < 0.7 * losses[0], losses
    assert np.all(np.diff(losses[:4]) < 0), losses  # Adam from the content: the first steps all go down
