"""AdaAttN and LST with the real VGG-19 and real images: training steps, input checks, attention blocks, the API."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import jaxstyle
from conftest import run_train_steps
from jaxstyle.models import adaattn, lst
from jaxstyle.ops.attention import attention_mean_std, sample_positions
from jaxstyle.params import save_params


def _steps(model, content, style, n=3, compute_dtype="float32"):
    moved, losses, metrics, _, traces = run_train_steps(model, content, style, n, compute_dtype=compute_dtype)
    assert len(traces) == 1 and np.isfinite(losses).all(), losses
    return moved, losses, metrics


@pytest.fixture(scope="module")
def small(content_photos, style_images):
    return content_photos[:, :32, :32], style_images[:, :32, :32]


def test_adaattn_bfloat16_train_step_updates_every_parameter(vgg, small):
    cfg = adaattn.default_config()
    cfg.update(query_block=100, identity_weight=1.0)  # 32x32 relu1_1 keys: blocks of 100 with a padded last one
    moved, losses, metrics = _steps(adaattn.build(cfg, rngs=nnx.Rngs(0), encoder=vgg), *small,
                                    compute_dtype="bfloat16")
    assert all(moved.values()), [k for k, v in moved.items() if not v]
    assert {"loss_global", "loss_local", "loss_identity"} <= set(metrics)
    assert losses[-1] < losses[0]


@pytest.mark.parametrize("layer", ["relu4_1", pytest.param("relu3_1", marks=pytest.mark.slow)])
def test_lst_stages_train_their_own_parameters_only(vgg, small, layer):
    for stage in ("decoder", "transform"):
        cfg = lst.default_config()
        cfg.update(layer=layer, stage=stage)
        moved, losses, metrics = _steps(lst.build(cfg, rngs=nnx.Rngs(0), encoder=vgg), *small,
                                        compute_dtype="bfloat16" if stage == "transform" else "float32")
        for path, m in moved.items():
            assert m == (("decoder" in path) == (stage == "decoder")), (stage, path)
        assert set(metrics) >= ({"loss_pixel", "loss_feature"} if stage == "decoder" else {"loss_content", "loss_style"})
        assert losses[-1] < losses[0], (stage, losses)


def test_bad_sizes_fail_before_heavy_work(vgg):
    m = adaattn.build(adaattn.default_config(), rngs=nnx.Rngs(0), encoder=vgg)
    with pytest.raises(ValueError, match="multiple of 16"):
        m(jnp.zeros((1, 40, 40, 3)), jnp.zeros((1, 32, 32, 3)))
    with pytest.raises(ValueError, match=r"\[B, H, W, 3\]"):
        m.loss(jnp.zeros((1, 32, 32)), jnp.zeros((1, 32, 32, 3)))
    m = lst.build(lst.default_config(), rngs=nnx.Rngs(0), encoder=vgg)
    with pytest.raises(ValueError, match="at least 16 px"):
        m(jnp.zeros((1, 8, 32, 3)), jnp.zeros((1, 32, 32, 3)))
    with pytest.raises(ValueError, match="layer"):
        cfg = lst.default_config()
        cfg.layer = "relu5_1"
        lst.build(cfg, rngs=nnx.Rngs(0), encoder=vgg)


def test_blocked_attention_equals_full_and_labels_restrict():
    rng = np.random.default_rng(0)
    q, k, v = (jnp.asarray(rng.normal(size=s), jnp.float32) for s in ((2, 37, 8), (2, 23, 8), (2, 23, 5)))
    a = jax.nn.softmax(jnp.einsum("bqd,bkd->bqk", q, k), -1)
    mean = a @ v
    std = jnp.sqrt(jax.nn.relu(a @ v ** 2 - mean ** 2))
    for block in (5, 37, 1000):
        m, s = attention_mean_std(q, k, v, block=block)
        np.testing.assert_allclose(m, mean, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(s, std, rtol=1e-4, atol=1e-5)
    ql, kl = jnp.asarray(rng.integers(0, 2, (2, 37))), jnp.asarray(rng.integers(0, 2, (2, 23)))
    kl = kl.at[1].set(0)  # sample 1: region 1 has no style position, so its queries attend to all
    m, _ = attention_mean_std(q, k, v, block=8, q_labels=ql, k_labels=kl)
    logits = jnp.where((ql[:, :, None] == kl[:, None, :]) | ~jnp.any(ql[:, :, None] == kl[:, None, :], -1,
                                                                       keepdims=True), q @ k.transpose(0, 2, 1), -jnp.inf)
    np.testing.assert_allclose(m, jax.nn.softmax(logits, -1) @ v, rtol=1e-5, atol=1e-5)
    assert sample_positions(jax.random.key(0), 100, 100) is None
    idx = np.asarray(sample_positions(jax.random.key(0), 100, 30))
    assert idx.shape == (30,) and len(set(idx.tolist())) == 30 and idx.max() < 100


def test_adaattn_alpha_blends_towards_the_content_attending_to_itself(vgg, small):
    """α = 0 is the identity-loss path ``transform(fc, fc)`` (what the decoder learns to render as the photo)."""
    m = adaattn.build(adaattn.default_config(), rngs=nnx.Rngs(0), encoder=vgg)
    c, s = (jnp.asarray(x[:2]) for x in small)
    fc, fs = m.encode(c), m.encode(s)
    run = jax.jit(lambda a: m.transform(fc, fs, a))  # a traced α
    full, own = m.transform(fc, fs), m.transform(fc, fc)
    for k in full:  # jit vs eager: ~1e-3 on O(1) features
        np.testing.assert_allclose(run(0.0)[k], own[k], rtol=1e-3, atol=3e-3)
        np.testing.assert_allclose(run(1.0)[k], full[k], rtol=1e-3, atol=3e-3)
        assert not np.allclose(own[k], full[k], atol=0.1), k
    half = m.transform(fc, fs, 0.5)
    np.testing.assert_allclose(half["a4"], 0.5 * (full["a4"] + own["a4"]), rtol=1e-3, atol=3e-3)


def test_adaattn_region_labels_and_sampling_cap(vgg, small):
    cfg = adaattn.default_config()
    m = adaattn.build(cfg, rngs=nnx.Rngs(0), encoder=vgg)
    c, s = (jnp.asarray(x[:1]) for x in small)
    fc, fs = m.encode(c), m.encode(s)
    free = m.transform(fc, fs)
    same = jnp.zeros((1, 32, 32), jnp.int32)
    np.testing.assert_allclose(m.transform(fc, fs, labels=(same, same))["t"], free["t"], rtol=1e-4, atol=1e-4)
    left = jnp.broadcast_to((jnp.arange(32) < 16).astype(jnp.int32), (1, 32, 32))
    split = m.transform(fc, fs, labels=(left, left))
    assert not np.allclose(split["t"], free["t"], atol=1e-3)
    cfg.update(max_sample_3=16, max_sample_45=4)  # style positions: 8x8 at relu3_1, 4x4 at relu4_1 -> subsampled
    capped = adaattn.build(cfg, rngs=nnx.Rngs(0), encoder=vgg)
    a = capped.transform(fc, fs, key=jax.random.key(1))["t"]
    assert np.isfinite(a).all() and not np.allclose(a, free["t"], atol=1e-3)
    np.testing.assert_array_equal(a, capped.transform(fc, fs, key=jax.random.key(1))["t"])  # seeded


@pytest.mark.filterwarnings("ignore:no trained")
@pytest.mark.parametrize("method", [pytest.param("adaattn", marks=pytest.mark.slow), "lst"])
def test_stylize_regions(method, vgg, vgg_path, tmp_path, content_photos, style_images):
    mod = {"adaattn": adaattn, "lst": lst}[method]
    model = mod.build(mod.default_config(), rngs=nnx.Rngs(0), encoder=vgg)
    ckpt = save_params(model, tmp_path / f"{method}.npz")
    kw = dict(method=method, checkpoint=ckpt, vgg_weights=vgg_path)
    c, s0 = content_photos[0][:40, :36], style_images[0][:32, :32]
    out = jaxstyle.stylize(c, s0, **kw)
    assert out.shape == c.shape and 0 <= out.min() and out.max() <= 1
    mask = np.zeros(c.shape[:2], np.float32)  # the other controls' effect: tests/test_controls.py
    mask[:, :18] = 1.0
    one_region = (np.zeros(c.shape[:2], np.int32), np.zeros(s0.shape[:2], np.int32))
    if method == "adaattn":  # one region everywhere: the same as no regions; two regions: different
        np.testing.assert_allclose(jaxstyle.stylize(c, s0, regions=one_region, **kw), out, atol=2e-4)
        halves = (np.asarray(mask, np.int32), (np.arange(32)[None, :] < 16).repeat(32, 0).astype(np.int32))
        assert not np.allclose(jaxstyle.stylize(c, s0, regions=halves, **kw), out, atol=1e-3)
        with pytest.raises(ValueError, match="integers of shape"):
            jaxstyle.stylize(c, s0, regions=(one_region[0][:8], one_region[1]), **kw)
        with pytest.raises(ValueError, match="tile"):
            jaxstyle.stylize(c, s0, tile=64, **kw)
    else:
        with pytest.raises(ValueError, match="attention method"):
            jaxstyle.stylize(c, s0, regions=one_region, **kw)


@pytest.mark.filterwarnings("ignore:no trained")
def test_lst_fixed_matrix_for_video(vgg, vgg_path, tmp_path, content_photos, style_images):
    model = lst.build(lst.default_config(), rngs=nnx.Rngs(0), encoder=vgg)
    ckpt = save_params(model, tmp_path / "lst.npz")
    kw = dict(method="lst", checkpoint=ckpt, vgg_weights=vgg_path)
    f0, f1, s = content_photos[0][:32, :32], content_photos[1][:32, :32], style_images[0][:32, :32]
    t0 = jaxstyle.style_matrix(f0, s, **kw)
    assert t0.shape == (1, 32, 32)
    same = jaxstyle.stylize(f0, s, matrix=t0, **kw)
    np.testing.assert_allclose(same, jaxstyle.stylize(f0, s, **kw), atol=2e-4)  # its own frame: unchanged
    fixed = jaxstyle.stylize(f1, s, matrix=t0, **kw)
    want = model.decode(model.transform(model.encode(f1[None]), model.encode(s[None]), matrix=jnp.asarray(t0)))
    np.testing.assert_allclose(fixed, np.clip(want[0], 0, 1), atol=2e-4)
    assert not np.allclose(fixed, jaxstyle.stylize(f1, s, **kw), atol=1e-3)
    with pytest.raises(ValueError, match="linear method"):
        jaxstyle.stylize(f0, s, method="adain", checkpoint=None, matrix=t0, vgg_weights=vgg_path)

    from jaxstyle.data.images import save_image
    from jaxstyle.infer import stylize_files

    frames = tmp_path / "frames"
    frames.mkdir()
    for i, f in enumerate((f0, f1)):
        save_image(frames / f"{i:04d}.png", f)
    save_image(tmp_path / "s.png", s)
    assert stylize_files([str(frames)], [str(tmp_path / "s.png")], tmp_path / "out", video=True, progress=False,
                         method="lst", checkpoint=str(ckpt), video_blend=0.0) == (2, 0, 0)
    from jaxstyle.data.images import load_image

    np.testing.assert_allclose(load_image(tmp_path / "out" / "0001__s.png"), jaxstyle.stylize(f1, s, **kw),
                               atol=1 / 255 + 1e-6)  # no blending, no carried statistics: each frame's own
    # video mode with the first frame's statistics carried is LST's fixed transform
    v = jaxstyle.Stylizer("lst", ckpt, vgg_weights=vgg_path).video(s, blend=0.0, stats_momentum=1.0)
    np.testing.assert_allclose(v(f0), same, atol=2e-4)
    np.testing.assert_allclose(v(f1), fixed, atol=2e-4)


# the default run trains and exports through train.py with AdaIN (test_train.py)
@pytest.mark.parametrize("method", [pytest.param(m, marks=pytest.mark.slow) for m in ("adaattn", "lst", "style_kernel")])
def test_train_py_tiny_run_exports_a_model_that_stylizes(method, tmp_path, tiny_config, vgg_path, content_photos,
                                                         style_images):
    from jaxstyle.export import export
    from jaxstyle.train import train_and_evaluate

    cfg = tiny_config(method, **{"train.num_steps": 2, "log.image_every_steps": 0})
    train_and_evaluate(cfg, tmp_path / "run")
    path = export(tmp_path / "run", tmp_path / f"{method}.npz")
    model = jaxstyle.load_pretrained(path)
    assert type(model).__module__ == f"jaxstyle.models.{method}"
    out = jaxstyle.stylize(content_photos[0][:48, :48], style_images[0][:32, :32], checkpoint=path)  # method: saved
    assert out.shape == (48, 48, 3) and np.isfinite(out).all()


def test_adaattn_warm_starts_from_the_adain_decoder_but_its_skip_conv(vgg):
    from jaxstyle.params import flat_params, read_npz
    from jaxstyle.registry import pretrained_path
    from jaxstyle.train import warm_start_decoder

    m = adaattn.build(adaattn.default_config(), rngs=nnx.Rngs(0), encoder=vgg)
    before = flat_params(m)
    src = pretrained_path("adain")
    n = warm_start_decoder(m, "adain", "matching")  # a method's name: its shipped model (as the cpu configs say)
    after, adain_flat = flat_params(m), read_npz(src)[0]
    assert n == 17  # 8 of the 9 decoder convs (kernel + bias) and the skip conv's bias (its kernel is wider)
    for i in (0, 2, 3, 4, 5, 6, 7, 8):
        np.testing.assert_array_equal(after[f"decoder/convs/{i}/kernel"],
                                      adain_flat[f"decoder/convs/{i}/kernel"].astype(np.float32))
    np.testing.assert_array_equal(after["decoder/convs/1/kernel"], before["decoder/convs/1/kernel"])
    with pytest.raises(ValueError, match="does not fit"):
        warm_start_decoder(m, str(src), "decoder")


def test_warm_start_takes_the_transform_from_one_model_and_the_decoder_from_another(vgg):
    """``train.init_from`` (every matching parameter) then ``train.init_decoder_from`` over it: LST's shipped
    transform with AdaIN's shipped decoder (the same MirrorDecoder)."""
    import ml_collections

    from jaxstyle.params import flat_params, read_npz
    from jaxstyle.registry import pretrained_path
    from jaxstyle.train import warm_start

    m = lst.build(lst.default_config(), rngs=nnx.Rngs(0), encoder=vgg)
    warm_start(m, ml_collections.ConfigDict(dict(init_from="lst", init_decoder_from="adain", init_scope="decoder")))
    got, lst_flat, adain_flat = flat_params(m), read_npz(pretrained_path("lst"))[0], read_npz(pretrained_path("adain"))[0]
    assert any(k.startswith("decoder/") for k in got) and any(not k.startswith("decoder/") for k in got)
    for k, v in got.items():
        np.testing.assert_array_equal(v, (adain_flat if k.startswith("decoder/") else lst_flat)[k].astype(np.float32),
                                      err_msg=k)


@pytest.mark.parametrize("method", ["adaattn", "lst", "style_kernel"])
def test_peer_losses_add_the_image_priors_against_the_checker_texture(vgg, method, content_photos, style_images):
    """``model.tv_weight`` / ``grid_weight`` add :func:`jaxstyle.losses.image_priors` of the stylized image."""
    from jaxstyle.registry import get_method

    module = get_method(method)
    c, s = jnp.asarray(content_photos[0][None, :32, :32]), jnp.asarray(style_images[0][None, :32, :32])
    losses = {}
    for w in (0.0, 100.0):
        cfg = module.default_config()
        cfg.tv_weight = cfg.grid_weight = w
        model = module.build(cfg, rngs=nnx.Rngs(0), encoder=vgg)
        losses[w] = model.loss(c, s, key=jax.random.key(0))
    (base, aux0), (total, aux) = losses[0.0], losses[100.0]
    assert "loss_grid" not in aux0 and aux["loss_grid"] > 0 and aux["loss_tv"] > 0
    np.testing.assert_allclose(total, base + 100.0 * (aux["loss_tv"] + aux["loss_grid"]), rtol=1e-5)


def test_adaattn_global_style_and_content_losses_take_their_own_layers(vgg, content_photos, style_images):
    """``global_layers`` (default: ``loss_layers``, the code's) and ``content_layers`` pick the layers of those
    terms; the local feature loss keeps ``loss_layers``."""
    from jaxstyle.losses import style_stats_loss
    from jaxstyle.ops.norms import mvn

    c, s = jnp.asarray(content_photos[0][None, :32, :32]), jnp.asarray(style_images[0][None, :32, :32])
    cfg = adaattn.default_config()
    cfg.update(global_layers=("relu1_1",), content_weight=1.0, content_layers=("relu3_1",))
    model = adaattn.build(cfg, rngs=nnx.Rngs(0), encoder=vgg)
    _, aux = model.loss(c, s, key=jax.random.key(0))
    _, aux_default = adaattn.build(adaattn.default_config(), rngs=nnx.Rngs(0), encoder=vgg).loss(
        c, s, key=jax.random.key(0))
    out = model(c, s, key=jax.random.key(0))
    fo, fs, fc = (vgg(x, ("relu1_1", "relu3_1")) for x in (out, s, c))
    np.testing.assert_allclose(aux["loss_global"], style_stats_loss(fo, fs, ("relu1_1",)), rtol=1e-4)
    np.testing.assert_allclose(aux["loss_content"], jnp.mean((mvn(fo["relu3_1"]) - mvn(fc["relu3_1"])) ** 2),
                               rtol=1e-4)
    np.testing.assert_allclose(aux["loss_local"], aux_default["loss_local"], rtol=1e-5)
    assert not np.isclose(aux["loss_global"], aux_default["loss_global"])


def test_cosine_attention_kernel_equals_its_formula_and_skips_invalid_keys():
    r = np.random.default_rng(0)
    q, k, v = (r.normal(size=s).astype(np.float32) for s in ((2, 5, 4), (2, 7, 4), (2, 7, 3)))
    valid = np.ones((2, 7), bool)
    valid[:, 5:] = False
    mean, std = attention_mean_std(jnp.asarray(q), jnp.asarray(k), jnp.asarray(v), kernel="cosine",
                                   k_valid=jnp.asarray(valid))
    qn, kn = (x / np.linalg.norm(x, axis=-1, keepdims=True) for x in (q, k[:, :5]))
    w = np.maximum(qn @ kn.transpose(0, 2, 1) + 1.0, 0.0)
    a = w / w.sum(-1, keepdims=True)
    m = a @ v[:, :5]
    np.testing.assert_allclose(mean, m, atol=1e-4)
    np.testing.assert_allclose(std, np.sqrt(np.maximum(a @ v[:, :5] ** 2 - m ** 2, 0)), atol=1e-3)
    with pytest.raises(ValueError, match="attention kernel"):
        attention_mean_std(jnp.asarray(q), jnp.asarray(k), jnp.asarray(v), kernel="dot")


def test_adaattn_video_setting_cosine_attention_and_cross_image_similarity_loss(vgg, small):
    r = np.random.default_rng(1)
    c1, c2 = (jnp.asarray(r.normal(size=(2, 4, 5, 8)), jnp.float32) for _ in range(2))
    assert float(adaattn.cross_similarity_loss(c1, c2, c1, c2)) < 1e-6  # the same relations: no loss
    assert float(adaattn.cross_similarity_loss(c1, c2, 3 * c1 + 0.0, 2 * c2)) < 1e-5  # cosine: scale-free
    assert float(adaattn.cross_similarity_loss(c1, c2, c1, c2[:, ::-1])) > 0.05  # relations moved

    content, style = small
    soft = adaattn.build(adaattn.default_config(), rngs=nnx.Rngs(0), encoder=vgg)
    cfg = adaattn.default_config()
    cfg.update(attention="cosine", similarity_weight=2.0)
    cos = adaattn.build(cfg, rngs=nnx.Rngs(0), encoder=vgg)
    fc, fs = soft.encode(content[:2]), soft.encode(style[:2])
    assert not np.allclose(soft.transform(fc, fs)["t"], cos.transform(fc, fs)["t"], atol=1e-4)
    key = jax.random.key(0)
    total, aux = cos.loss(content[:2], style[:2], key=key)
    cfg0 = adaattn.default_config()
    cfg0.update(attention="cosine")
    base, aux0 = adaattn.build(cfg0, rngs=nnx.Rngs(0), encoder=vgg).loss(content[:2], style[:2], key=key)
    assert "loss_similarity" in aux and "loss_similarity" not in aux0 and float(aux["loss_similarity"]) > 0
    np.testing.assert_allclose(float(total), float(base) + 2.0 * float(aux["loss_similarity"]), rtol=1e-4)
