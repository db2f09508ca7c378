"""The GNN stylizer end to end with the real VGG-19: gradients, a traced-once train step, k control, errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import jaxstyle
from jaxstyle.models import gnn
from conftest import counting_train_step
from jaxstyle.params import flat_params, save_params


@pytest.fixture(scope="module")
def model(vgg):
    return gnn.build(gnn.default_config(), rngs=nnx.Rngs(0), encoder=vgg)


def test_parameters_and_frozen_encoder(model):
    names = flat_params(model)
    assert not any(n.startswith("encoder") for n in names)
    for prefix in ("scale_predictor/", "layer_a/", "layer_b/", "decoder/"):
        assert any(n.startswith(prefix) for n in names), prefix


def test_train_step_updates_every_parameter_and_traces_once(model, content_photos, style_images):
    step, state, traces = counting_train_step(model)
    batch = {"content": jnp.asarray(content_photos[:1]), "style": jnp.asarray(style_images[:1])}
    before = jax.tree.map(np.asarray, state.params)
    state, metrics = step(state, batch)
    # Adam moves exactly the parameters whose gradient is non-zero: all of them, scale predictor included.
    paths = [jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_flatten_with_path(before)[0]]
    moved = {p: bool(np.any(a != np.asarray(b)))
             for p, a, b in zip(paths, jax.tree.leaves(before), jax.tree.leaves(state.params))}
    assert all(moved.values()), [k for k, v in moved.items() if not v]
    state, metrics2 = step(state, {"content": batch["content"][:, ::-1], "style": batch["style"]})
    assert len(traces) == 1
    assert set(metrics) == {"loss", "loss_content", "loss_style", "grad_norm", "finite"}
    assert np.isfinite([float(v) for v in metrics2.values()]).all()


@pytest.mark.filterwarnings("ignore:no trained")
def test_stylize_k_controls_diversity(model, vgg_path, tmp_path, content_photos, style_images):
    ckpt = save_params(model, tmp_path / "gnn.npz")
    kw = dict(method="gnn", checkpoint=ckpt, vgg_weights=vgg_path)
    c, s = content_photos[0][:64, :56], style_images[1]
    out1 = jaxstyle.stylize(c, s, k=1, **kw)
    out5 = jaxstyle.stylize(c, s, k=5, **kw)
    assert out1.shape == out5.shape == c.shape
    assert 0.0 <= out1.min() and out1.max() <= 1.0
    assert np.abs(out1 - out5).mean() > 1e-4  # different numbers of edges give different stylizations
    with pytest.raises(ValueError, match="graph methods only"):
        jaxstyle.stylize(c, s, method="adain", k=3, vgg_weights=vgg_path, checkpoint=None)


@pytest.mark.parametrize("content_hw, style_hw, k, match", [
    ((64, 64), (64, 64), 0, "k=0"),
    ((64, 64), (64, 64), 65, r"k=65.*64"),
    ((32, 64), (64, 64), 5, "content image 32x64 is too small"),
    ((64, 64), (48, 64), 5, "style image 48x64 is too small"),
])
def test_bad_sizes_and_k_fail_before_heavy_work(model, content_hw, style_hw, k, match):
    with pytest.raises(ValueError, match=match):
        model(jnp.zeros((1, *content_hw, 3)), jnp.zeros((1, *style_hw, 3)), k=k)


def test_mismatched_batches(model):
    with pytest.raises(ValueError, match="batch"):
        model(jnp.zeros((2, 64, 64, 3)), jnp.zeros((3, 64, 64, 3)))


@pytest.mark.slow
@pytest.mark.parametrize("overrides", [
    dict(scales=(1,)), dict(use_content_edges=False), dict(content_edges="spatial", k_content=8),
    dict(aggregator="gcn"), dict(aggregator="gin"), dict(aggregator="edgeconv"), dict(aggregator="sage"),
    dict(aggregator="mean_topk"), dict(aggregator="hard_nn"), dict(use_adain_refine=False),
    dict(similarity="euclidean"), dict(attn="gat"), dict(attn="gatv2"), dict(scale_mode="gumbel_st"), dict(patch_size=3),
    dict(content_gate=True, struct_weight=1.0),
])
def test_every_ablation_switch_runs(vgg, overrides, content_photos, style_images):
    cfg = gnn.default_config()
    cfg.update(overrides)
    m = gnn.build(cfg, rngs=nnx.Rngs(0), encoder=vgg)
    loss, aux = jax.jit(lambda c, s: nnx.merge(*nnx.split(m)).loss(c, s))(
        jnp.asarray(content_photos[:1]), jnp.asarray(style_images[:1]))
    assert np.isfinite(float(loss))


def test_content_gate_interpolates_between_the_graph_and_the_content(vgg, content_photos, style_images):
    """``content_gate``: shut, the ungated GNN; open, AdaIN(F_c, F_s)."""
    from jaxstyle.ops.norms import adain

    def build(**kw):
        cfg = gnn.default_config()
        cfg.update(scales=(1, 2), **kw)
        return gnn.build(cfg, rngs=nnx.Rngs(0), encoder=vgg)

    c, s = jnp.asarray(content_photos[:1, :64, :64]), jnp.asarray(style_images[:1, :64, :64])
    plain = build()
    fc, fs = plain.encode(c), plain.encode(s)
    ref = plain.transfer(fc, fs, k=3)[0]
    shut = build(content_gate=True, gate_init=(-30.0, 0.0)).transfer(fc, fs, k=3)[0]
    np.testing.assert_allclose(shut, ref, atol=1e-4)
    opened = build(content_gate=True, gate_init=(30.0, 0.0)).transfer(fc, fs, k=3)[0]
    np.testing.assert_allclose(opened, adain(fc, fs), atol=1e-3)
    assert float(jnp.abs(opened - ref).mean()) > 0.1


@pytest.mark.slow  # a gradient through the whole GNN loss (~40 s on 2 cores)
def test_content_gate_is_trained_through_the_loss(vgg, content_photos, style_images):
    """The gate gets a gradient through the loss, which reports it and the structure term."""
    c, s = jnp.asarray(content_photos[:1, :64, :64]), jnp.asarray(style_images[:1, :64, :64])
    cfg = gnn.default_config()
    cfg.update(scales=(1, 2), content_gate=True, struct_weight=1.0)
    gated = gnn.build(cfg, rngs=nnx.Rngs(0), encoder=vgg)
    graphdef, params, rest = nnx.split(gated, nnx.Param, ...)

    def loss(p):
        total, aux = nnx.merge(graphdef, p, rest).loss(c, s)
        return total, aux

    grads, aux = jax.grad(loss, has_aux=True)(params)
    assert np.all(np.abs(np.asarray(grads["gate"][...])) > 0), grads["gate"]
    assert {"loss_struct", "content_gate"} <= set(aux)
    np.testing.assert_allclose(float(aux["content_gate"]), 1 / (1 + np.exp(1.0)), rtol=1e-5)


def test_content_edges_follow_the_graph_size(vgg, content_photos, style_images):
    """``content_edges="knn"`` up to ``content_knn_max_nodes`` content nodes, the spatial grid above: the same
    features as a model configured ``"spatial"``; ``0`` keeps knn; explicit ``"spatial"`` stays spatial."""
    def build(**kw):
        cfg = gnn.default_config()
        cfg.update(scales=(1,), **kw)
        return gnn.build(cfg, rngs=nnx.Rngs(0), encoder=vgg)

    default = build()
    assert default.content_edge_mode(128 * 128) == "knn" and default.content_edge_mode(128 * 128 + 1) == "spatial"
    assert build(content_knn_max_nodes=0).content_edge_mode(10**6) == "knn"
    assert build(content_edges="spatial", k_content=5).content_edge_mode(4) == "spatial"
    c, s = jnp.asarray(content_photos[:1, :64, :64]), jnp.asarray(style_images[:1, :64, :64])
    fc, fs = default.encode(c), default.encode(s)  # 8x8 = 64 content nodes
    auto = build(content_knn_max_nodes=63).transfer(fc, fs, k=3)[0]
    np.testing.assert_allclose(auto, build(content_edges="spatial").transfer(fc, fs, k=3)[0], atol=1e-5)
    assert float(jnp.abs(auto - build().transfer(fc, fs, k=3)[0]).mean()) > 1e-4  # knn gives other features
    build(content_knn_max_nodes=63, k_content=20).check_inputs(c.shape, s.shape)  # k_content capped at the grid's 8
    with pytest.raises(ValueError, match="content_knn_max_nodes=-1"):
        build(content_knn_max_nodes=-1)


def test_gram_and_patch_knn_give_the_same_stylization(vgg, content_photos, style_images):
    """knn_algorithm="gram" (the default) and "patches" pick the same edges on real features with three scales."""
    def build(**kw):
        cfg = gnn.default_config()
        cfg.update(**kw)
        return gnn.build(cfg, rngs=nnx.Rngs(0), encoder=vgg)

    c, s = jnp.asarray(content_photos[:1]), jnp.asarray(style_images[:1])
    gram, patches = build(), build(knn_algorithm="patches")
    fc, fs = gram.encode(c), gram.encode(s)
    np.testing.assert_allclose(gram.transfer(fc, fs, k=3)[0], patches.transfer(fc, fs, k=3)[0], atol=1e-4)
    with pytest.raises(ValueError, match="knn_algorithm='fast'"):
        build(knn_algorithm="fast")


def test_edge_sampling_draws_among_the_k_best(vgg, content_photos, style_images):
    """sample_tau > 0: a seeded draw among the k edges (same seed, same features; another seed or k, others);
    k = 1 stays the best match; sample_tau = 0 is the spec's attention over all k."""
    cfg = gnn.default_config()
    cfg.update(scales=(1,))
    m = gnn.build(cfg, rngs=nnx.Rngs(0), encoder=vgg)
    c, s = jnp.asarray(content_photos[:1]), jnp.asarray(style_images[:1])
    fc, fs = m.encode(c), m.encode(s)
    run = lambda k, tau, seed=None: m.transform(fc, fs, k=k, sample_tau=tau, seed=seed)  # noqa: E731
    np.testing.assert_allclose(run(1, 0.5), run(1, 0.0), atol=1e-6)
    a, b = run(8, 0.5), run(8, 0.5, seed=1)
    np.testing.assert_array_equal(a, run(8, 0.5))
    assert float(jnp.abs(a - b).mean()) > 1e-3 and float(jnp.abs(a - run(8, 0.0)).mean()) > 1e-3
    with pytest.raises(ValueError, match="sample_tau=-1"):
        run(8, -1.0)


def test_fold_size_and_image_priors(vgg, content_photos, style_images):
    """fold_size (config or per call) narrows Patch2Feat: 1 differs from the spec's full fold, = patch_size is it;
    tv_weight / grid_weight add λ·total_variation(I_cs) / λ·grid_energy(I_cs) to the loss."""
    from jaxstyle.losses import grid_energy, total_variation

    cfg = gnn.default_config()
    cfg.update(scales=(1,))
    m = gnn.build(cfg, rngs=nnx.Rngs(0), encoder=vgg)
    c, s = jnp.asarray(content_photos[:1]), jnp.asarray(style_images[:1])
    fc, fs = m.encode(c), m.encode(s)
    full = m.transform(fc, fs, k=3)
    np.testing.assert_allclose(m.transform(fc, fs, k=3, fold_size=5), full, atol=1e-6)
    assert float(jnp.abs(m.transform(fc, fs, k=3, fold_size=1) - full).mean()) > 1e-2
    for bad in (2, 7):
        with pytest.raises(ValueError, match=f"fold_size={bad}"):
            m.transform(fc, fs, k=3, fold_size=bad)
    with pytest.raises(ValueError, match="fold_size=4"):
        gnn.build(_cfg(fold_size=4), rngs=nnx.Rngs(0), encoder=vgg)

    assert float(total_variation(jnp.full((1, 8, 8, 3), 0.5))) == 0.0
    cfg.update(tv_weight=1e5, grid_weight=1e7)
    tv = gnn.build(cfg, rngs=nnx.Rngs(0), encoder=vgg)
    (l0, a0), (l1, a1) = (jax.jit(lambda c, s, mm=mm: mm.loss(c, s))(c, s) for mm in (m, tv))
    assert "loss_tv" not in a0 and "loss_grid" not in a0 and float(a1["loss_tv"]) > 0
    out = m(c, s)  # same init: the regularised model's output is this one
    np.testing.assert_allclose(float(a1["loss_grid"]), float(grid_energy(out)[0].mean()), rtol=1e-3, atol=1e-9)
    np.testing.assert_allclose(float(l1 - l0), 1e5 * float(a1["loss_tv"]) + 1e7 * float(a1["loss_grid"]),
                               rtol=1e-4)


def _cfg(**kw):
    cfg = gnn.default_config()
    cfg.update(**kw)
    return cfg
