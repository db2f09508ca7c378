"""AdaIN end to end with the real VGG-19 and real images: decoder, training, stylize, parameter files."""

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import jaxstyle
from jaxstyle.models import adain
from jaxstyle.nn.blocks import MirrorDecoder
from conftest import run_train_steps
from jaxstyle.params import flat_params, load_params, save_params


@pytest.fixture(scope="module")
def model(vgg):
    return adain.build(adain.default_config(), rngs=nnx.Rngs(0), encoder=vgg)


@pytest.mark.parametrize("upsample", ["nearest", "bilinear"])
def test_decoder_mirrors_vgg(upsample):
    dec = MirrorDecoder((16, 8, 8, 4), upsample=upsample, rngs=nnx.Rngs(0))
    y = dec(jnp.ones((2, 5, 3, 16)))
    assert y.shape == (2, 40, 24, 3) and y.dtype == jnp.float32
    assert len(dec.convs) == 9
    with pytest.raises(ValueError, match="upsample"):
        MirrorDecoder(upsample="cubic", rngs=nnx.Rngs(0))


def test_encoder_is_frozen_and_decoder_is_trainable(model):
    params = flat_params(model)
    assert params and all(p.startswith("decoder/") for p in params)
    assert sum(x.size for x in params.values()) == 3_505_219  # the AdaIN decoder's parameter count


def test_bfloat16_train_step_loss_falls_traces_once_and_updates_every_parameter(model, content_photos, style_images):
    """20 mixed-precision steps (float32 steps: the trainer tests); the first loss matches float32's."""
    moved, losses, metrics, state, traces = run_train_steps(model, content_photos, style_images, 20,
                                                            compute_dtype="bfloat16")
    assert all(moved.values()), moved
    assert set(metrics) == {"loss", "loss_content", "loss_style", "grad_norm", "finite"}
    assert len(traces) == 1
    assert int(state.step) == 20
    assert np.isfinite(losses).all()
    assert losses[-1] < 0.6 * losses[0], losses
    assert np.mean(losses[-5:]) < np.mean(losses[:5])


def test_identity_loss_and_image_priors(vgg, content_photos, style_images):
    """identity_weight adds the decoder's reconstruction error, tv_weight / grid_weight the output's image priors."""
    from jaxstyle.losses import grid_energy, total_variation

    cfg = adain.default_config()
    cfg.update(identity_weight=2.0, tv_weight=3.0, grid_weight=1e4)
    m = adain.build(cfg, rngs=nnx.Rngs(0), encoder=vgg)
    c, s = jnp.asarray(content_photos[:, :32, :32]), jnp.asarray(style_images[:, :32, :32])
    total, aux = m.loss(c, s)
    want = jnp.mean((m.decoder(m.encode(c)) - c) ** 2)
    out = m(c, s)
    tv, grid = total_variation(out), jnp.mean(grid_energy(out)[0])
    np.testing.assert_allclose(aux["loss_identity"], want, rtol=1e-5)
    np.testing.assert_allclose([aux["loss_tv"], aux["loss_grid"]], [tv, grid], rtol=1e-4)
    np.testing.assert_allclose(total, aux["loss_content"] + 10 * aux["loss_style"] + 2 * want + 3 * tv + 1e4 * grid,
                               rtol=1e-5)
    assert "loss_identity" not in adain.build(adain.default_config(), rngs=nnx.Rngs(0), encoder=vgg).loss(c, s)[1]


def test_stylize_odd_sizes_alpha_and_checkpoint(model, vgg_path, tmp_path, content_photos, style_images):
    ckpt = save_params(model, tmp_path / "adain.npz")
    content = content_photos[0][:37, :45]  # odd size: padded to 40x48 and cropped back
    out = jaxstyle.stylize(content, style_images[1][:32, :40], method="adain", checkpoint=ckpt, vgg_weights=vgg_path)
    assert out.shape == content.shape and out.dtype == np.float32
    assert 0.0 <= out.min() and out.max() <= 1.0
    direct = model(jnp.pad(jnp.asarray(content[None]), ((0, 0), (0, 3), (0, 3), (0, 0)), mode="reflect"),
                   jnp.asarray(style_images[1:2, :32, :40]))
    np.testing.assert_allclose(out, np.clip(direct[0, :37, :45], 0, 1), atol=1e-4)
    batch = jaxstyle.stylize(content_photos[:, :40, :40], style_images[0], method="adain", alpha=0.0, checkpoint=ckpt,
                             vgg_weights=vgg_path)
    assert batch.shape == (2, 40, 40, 3)
    assert not np.allclose(batch[0], jaxstyle.stylize(content_photos[0, :40, :40], style_images[0], method="adain",
                                                       checkpoint=ckpt, vgg_weights=vgg_path), atol=1e-3)


def test_stylize_without_shipped_weights_warns(vgg_path, content_photos, style_images, monkeypatch):
    from jaxstyle import registry

    monkeypatch.setattr(registry, "PRETRAINED", {})  # as for a method that has no trained release yet
    with pytest.warns(UserWarning, match="untrained decoder"):
        out = jaxstyle.stylize(content_photos[0][:32, :32], style_images[0][:32, :32], method="adain",
                               vgg_weights=vgg_path, seed=123)
    assert out.shape == (32, 32, 3)


@pytest.mark.parametrize("content, style, kwargs, match", [
    (np.zeros((32, 32, 3), np.uint8), np.zeros((32, 32, 3)), {}, "uint8"),
    (np.zeros((10, 32, 3)), np.zeros((32, 32, 3)), {}, "too small"),
    (np.full((32, 32, 3), 2.0), np.zeros((32, 32, 3)), {}, r"\[0, 1\]"),
    (np.zeros((32, 32)), np.zeros((32, 32, 3)), {}, "RGB"),
    (np.zeros((2, 32, 32, 3)), np.zeros((3, 32, 32, 3)), {}, "style batch"),
    (np.zeros((32, 32, 3)), np.zeros((32, 32, 3)), {"alpha": 1.5}, "alpha"),
    (np.zeros((32, 32, 3)), np.zeros((32, 32, 3)), {"method": "nope"}, "unknown method"),
])
def test_stylize_rejects_bad_input(content, style, kwargs, match):
    with pytest.raises(ValueError, match=match):
        jaxstyle.stylize(content, style, **kwargs)


def test_load_params_reports_the_mismatches_in_one_short_line(tmp_path):
    small = MirrorDecoder((16, 8, 8, 4), rngs=nnx.Rngs(0))
    other = MirrorDecoder((16, 8, 8, 5), rngs=nnx.Rngs(1))
    path = save_params(small, tmp_path / "dec.npz")
    with pytest.raises(ValueError) as info:
        load_params(other, path)
    msg = str(info.value)
    assert "5 with another shape: convs/6/bias: file (4,) vs model (5,)" in msg and "and 2 more" in msg, msg
    assert "\n" not in msg and len(msg) < 400, msg
    twin = MirrorDecoder((16, 8, 8, 4), rngs=nnx.Rngs(2))
    load_params(twin, path)
    x = jnp.ones((1, 2, 2, 16))
    np.testing.assert_array_equal(twin(x), small(x))
    with pytest.raises(ValueError, match="exists"):
        save_params(small, path)


@pytest.mark.filterwarnings("ignore:no trained")
def test_stylize_tiled_equals_untiled(vgg_path, content_photos, style_images):
    c = np.concatenate([content_photos[0], content_photos[1]], axis=1)[:, :120]  # 64x120: several 64 px tiles
    kw = dict(method="adain", vgg_weights=vgg_path, seed=0)
    np.testing.assert_allclose(jaxstyle.stylize(c, style_images[0], tile=64, **kw),
                               jaxstyle.stylize(c, style_images[0], **kw), atol=1e-5)
    two = dict(style_weights=[0.3, 0.7], **kw)
    np.testing.assert_allclose(jaxstyle.stylize(c, [style_images[0], style_images[1]], tile=64, **two),
                               jaxstyle.stylize(c, [style_images[0], style_images[1]], **two), atol=1e-5)
