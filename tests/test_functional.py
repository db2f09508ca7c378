"""``jaxstyle.functional``: pure apply functions that work under jit, vmap and grad."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import jaxstyle
from jaxstyle.configs import gnn as gnn_config
from jaxstyle.models import adain, gnn


@pytest.fixture(scope="module")
def adain_model(vgg):
    return adain.build(adain.default_config(), rngs=nnx.Rngs(0), encoder=vgg)


def test_apply_matches_the_module_under_jit_and_vmap(adain_model, content_photos, style_images):
    apply, variables = jaxstyle.functional.split(adain_model)
    c, s = jnp.asarray(content_photos[:, :32, :32]), jnp.asarray(style_images[:, :32, :32])
    want = adain_model(c, s)
    np.testing.assert_allclose(jax.jit(apply)(variables, c, s), want, rtol=1e-5, atol=1e-5)
    per_pair = jax.vmap(apply, in_axes=(None, 0, 0))(variables, c[:, None], s[:, None])[:, 0]
    np.testing.assert_allclose(per_pair, want, rtol=1e-4, atol=1e-4)


def test_grad_flows_to_params_and_to_the_content_image(adain_model, content_photos, style_images):
    apply, variables = jaxstyle.functional.split(adain_model)
    c, s = jnp.asarray(content_photos[:1, :32, :32]), jnp.asarray(style_images[:1, :32, :32])

    def loss(v, x):
        return jnp.mean((apply(v, x, s) - 0.5) ** 2)

    gv, gx = jax.jit(jax.grad(loss, argnums=(0, 1)))(variables, c)
    assert all(bool(jnp.any(g != 0)) for g in jax.tree.leaves(gv["params"]))
    assert gx.shape == c.shape and float(jnp.abs(gx).max()) > 0
    # frozen VGG weights get exactly zero gradient (read through stop_gradient)
    assert all(float(jnp.abs(g).max()) == 0 for g in jax.tree.leaves(gv["frozen"]))
    eps = 1e-2  # directional derivative check along the gradient
    d = gx / jnp.linalg.norm(gx)
    fd = (loss(variables, c + eps * d) - loss(variables, c - eps * d)) / (2 * eps)
    np.testing.assert_allclose(fd, jnp.vdot(gx, d), rtol=5e-2)


def test_gnn_apply_takes_k(vgg, content_photos, style_images):
    model = gnn.build(gnn_config.get_config("tiny").model, rngs=nnx.Rngs(0), encoder=vgg)
    apply, variables = jaxstyle.functional.split(model)
    c, s = jnp.asarray(content_photos[:1, :32, :32]), jnp.asarray(style_images[:1, :32, :32])
    f = jax.jit(apply, static_argnames=("k",))
    a, b = f(variables, c, s, k=1), f(variables, c, s, k=2)
    assert a.shape == b.shape == (1, 32, 32, 3) and not np.allclose(a, b)
    apply_adain, v_adain = jaxstyle.functional.split(adain.build(adain.default_config(), rngs=nnx.Rngs(0), encoder=vgg))
    with pytest.raises(ValueError, match="graph methods only"):
        apply_adain(v_adain, c, s, k=1)
