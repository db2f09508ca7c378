"""graph.build: exact blockwise top-k edges against a brute-force float64 NumPy reference (spec §3.2–§3.4, §14).

XLA:CPU compile time dominates these tiny shapes, so each configuration runs under one jit with the quick compile
settings (-O0, no MLIR fusion emitters: the same computation, ~5x less compile time than the defaults and ~10x less
than eager dispatch, which compiles every primitive on its own). ``test_jit_traces_once`` uses a plain ``jax.jit``.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxstyle.graph.build import content_knn_edges, knn_edges, pair_scores, scores, spatial_edges

EPS = 1e-8
B, HC, WC, HS, WS, C = 2, 6, 7, 7, 6, 4
STATIC = ("k", "patch_size", "stride", "similarity", "block_size", "padding")


QUICK = {"xla_backend_optimization_level": 0, "xla_cpu_use_fusion_emitters": False} \
    if jax.default_backend() == "cpu" else None


def qjit(fn):
    return jax.jit(fn, compiler_options=QUICK)


def raises_at_trace(fn, *args):
    """Run ``fn`` under jit so that validation errors surface while tracing, before anything is compiled."""
    return jax.jit(fn)(*args)


def ref_nodes(x: np.ndarray, p: int, stride: int = 1) -> np.ndarray:
    """Reflect-padded windows, node (y, x) on the strided grid, position-major → ``[B, N, p²·C]`` float64."""
    b, h, w, c = x.shape
    r = p // 2
    xp = np.pad(x.astype(np.float64), ((0, 0), (r, r), (r, r), (0, 0)), mode="reflect")
    out = [xp[:, y:y + p, xx:xx + p].reshape(b, -1) for y in range(0, h, stride) for xx in range(0, w, stride)]
    return np.stack(out, axis=1)


def ref_sim(a: np.ndarray, b: np.ndarray, similarity: str) -> np.ndarray:
    """``[M, D] × [N, D] → [M, N]`` in float64, straight from the definitions."""
    if similarity == "euclidean":
        return -((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
    if similarity == "ncc":
        a = a - a.mean(-1, keepdims=True)
        b = b - b.mean(-1, keepdims=True)
    na = np.linalg.norm(a, axis=-1) + EPS
    nb = np.linalg.norm(b, axis=-1) + EPS
    return (a @ b.T) / (na[:, None] * nb[None, :])


def ref_topk(s: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-k per row, best first; asserts the data has no near-ties at the cut or inside the top k."""
    order = np.argsort(-s, axis=-1, kind="stable")
    top = np.take_along_axis(s, order[:, : k + 1], axis=-1)
    gaps = -np.diff(top, axis=-1)
    scale = np.maximum(np.abs(top[:, :1]), 1.0)
    assert (gaps / scale).min() > 1e-5, "test data has near-ties: pick another seed"
    return order[:, :k], np.take_along_axis(s, order[:, :k], axis=-1)


def _maps(seed=0, content_hw=(HC, WC), style_hw=(HS, WS)):
    rng = np.random.default_rng(seed)
    fc = rng.normal(size=(B, *content_hw, C)).astype(np.float32)
    fs = rng.normal(size=(B, *style_hw, C)).astype(np.float32)
    return fc, fs


def _maps_without_near_ties(p, similarity, stride, k, seed=0):
    """The first seed from ``seed`` whose top-(k+1) reference scores are all > 1e-5 apart (float32 rounding cannot
    reorder them), with the float64 reference patches."""
    for s in range(seed, seed + 50):
        fc, fs = _maps(seed=s)
        xc, xs = ref_nodes(fc, p, stride), ref_nodes(fs, p)
        try:
            for b in range(B):
                ref_topk(ref_sim(xc[b], xs[b], similarity), k)
        except AssertionError:
            continue
        return fc, fs, xc, xs
    raise AssertionError("no seed without near-ties")


def _assert_scores(got, ref, similarity):
    if similarity == "euclidean":
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-4)
    else:
        np.testing.assert_allclose(got, ref, atol=1e-5)


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("similarity", ["ncc", "cosine", "euclidean"])
@pytest.mark.parametrize("p", [1, 3, 5])
def test_knn_edges_match_brute_force(p, similarity, stride):
    fc, fs, xc, xs = _maps_without_near_ties(p, similarity, stride, 7, seed=10 * p)
    outs = qjit(lambda c, s: [knn_edges(c, s, k=k, patch_size=p, stride=stride, similarity=similarity)
                              for k in (1, 3, 7)])(jnp.asarray(fc), jnp.asarray(fs))
    n_c = -(-HC // stride) * -(-WC // stride)
    for k, (idx, score) in zip((1, 3, 7), outs):
        assert idx.shape == score.shape == (B, n_c, k)
        assert idx.dtype == jnp.int32 and score.dtype == jnp.float32
        for b in range(B):
            ref_idx, ref_score = ref_topk(ref_sim(xc[b], xs[b], similarity), k)
            np.testing.assert_array_equal(np.asarray(idx[b]), ref_idx)
            _assert_scores(np.asarray(score[b]), ref_score, similarity)


@pytest.mark.parametrize("stride", [1, 2])
def test_block_sizes_agree(stride):
    """Blocks of one node row (block_size 1, 3, w'), of 4 rows (the last block runs past the grid and is cropped)
    and a single block: identical edges."""
    fc, fs = _maps(seed=3)
    fc, fs = jnp.asarray(fc), jnp.asarray(fs)
    wn = -(-WC // stride)
    sizes = (1, 3, wn, 4 * wn + 1, 10_000)
    outs = qjit(lambda c, s: [knn_edges(c, s, k=5, patch_size=3, stride=stride, block_size=bs) for bs in sizes])(
        fc, fs)
    idx0, s0 = map(np.asarray, outs[-1])
    assert np.all(np.diff(s0, axis=-1) <= 0), "scores must be sorted descending"
    for idx, s in outs[:-1]:
        np.testing.assert_array_equal(np.asarray(idx), idx0)
        np.testing.assert_allclose(np.asarray(s), s0, atol=1e-6)
    xc, xs = ref_nodes(np.asarray(fc), 3, stride), ref_nodes(np.asarray(fs), 3)
    np.testing.assert_array_equal(idx0[1], ref_topk(ref_sim(xc[1], xs[1], "ncc"), 5)[0])


@pytest.mark.parametrize("stride", [1, 2])
def test_ncc_self_match(stride):
    """content = style: NCC(x, x) = 1 is every node's best match (its own location)."""
    fc, _ = _maps(seed=4)
    idx, score = qjit(lambda c: knn_edges(c, c, k=1, patch_size=3, stride=stride))(jnp.asarray(fc))
    wn = -(-WC // stride)
    n = -(-HC // stride) * wn
    own = np.array([(stride * (i // wn)) * WC + stride * (i % wn) for i in range(n)])
    np.testing.assert_array_equal(np.asarray(idx)[..., 0], np.broadcast_to(own, (B, n)))
    np.testing.assert_allclose(np.asarray(score), 1.0, atol=1e-5)


def test_ncc_matrix_symmetric_unit_diagonal():
    fc, _ = _maps(seed=5)
    x = ref_nodes(fc, 3)
    ref = ref_sim(x[0], x[0], "ncc")
    np.testing.assert_allclose(ref, ref.T, atol=1e-12)
    np.testing.assert_allclose(np.diag(ref), 1.0, atol=1e-12)
    assert np.all(np.abs(ref) <= 1 + 1e-12)
    got = np.asarray(qjit(lambda v: scores(v, v, "ncc"))(jnp.asarray(x, jnp.float32)))
    np.testing.assert_allclose(got, np.stack([ref_sim(x[b], x[b], "ncc") for b in range(B)]), atol=1e-5)
    np.testing.assert_allclose(got, np.swapaxes(got, 1, 2), atol=1e-6)


@pytest.mark.parametrize("stride,similarity", [(1, "ncc"), (2, "cosine")])
def test_content_knn_excludes_self(stride, similarity):
    fc, _ = _maps(seed=6)
    idx, score = qjit(lambda c: content_knn_edges(c, k=4, patch_size=3, stride=stride, similarity=similarity))(
        jnp.asarray(fc))
    x = ref_nodes(fc, 3, stride)
    n = x.shape[1]
    assert idx.shape == (B, n, 4)
    assert not np.any(np.asarray(idx) == np.arange(n)[None, :, None])
    for b in range(B):
        s = ref_sim(x[b], x[b], similarity)
        np.fill_diagonal(s, -np.inf)
        ref_idx, ref_score = ref_topk(s, 4)
        np.testing.assert_array_equal(np.asarray(idx[b]), ref_idx)
        np.testing.assert_allclose(np.asarray(score[b]), ref_score, atol=1e-5)


def test_spatial_edges_grid_neighbours_and_scores():
    h, w = 5, 6
    fc = np.random.default_rng(7).normal(size=(B, h, w, C)).astype(np.float32)
    idx, score = qjit(lambda c: spatial_edges(c, k=8, patch_size=3))(jnp.asarray(fc))
    idx, score = np.asarray(idx), np.asarray(score)
    assert idx.shape == score.shape == (B, h * w, 8)
    # interior node (2, 3): 4-neighbourhood first (up, down, left, right), then diagonals
    node = lambda y, x: y * w + x  # noqa: E731
    assert idx[0, node(2, 3)].tolist() == [node(1, 3), node(3, 3), node(2, 2), node(2, 4),
                                          node(1, 2), node(1, 4), node(3, 2), node(3, 4)]
    # corner (0, 0): off-grid neighbours are reflected back inside the grid
    assert idx[0, node(0, 0)].tolist() == [node(1, 0), node(1, 0), node(0, 1), node(0, 1)] + [node(1, 1)] * 4
    assert idx[1, node(4, 5)].tolist() == [node(3, 5), node(3, 5), node(4, 4), node(4, 4)] + [node(3, 4)] * 4
    assert 0 <= idx.min() and idx.max() < h * w and not np.any(idx == np.arange(h * w)[None, :, None])
    x = ref_nodes(fc, 3)
    for b in range(B):
        ref = ref_sim(x[b], x[b], "ncc")
        np.testing.assert_allclose(score[b], np.take_along_axis(ref, idx[b], axis=1), atol=1e-5)
    with pytest.raises(ValueError, match="k=9"):
        raises_at_trace(lambda c: spatial_edges(c, k=9, patch_size=3), jnp.asarray(fc))


@pytest.mark.parametrize("similarity", ["ncc", "cosine", "euclidean"])
def test_pair_scores_match_brute_force(similarity):
    h, w, p = 5, 6, 3
    rng = np.random.default_rng(8)
    fc = rng.normal(size=(B, h, w, C)).astype(np.float32)
    pairs = rng.integers(0, h * w, size=(B, h * w, 3)).astype(np.int32)
    got = np.asarray(qjit(lambda f, i: pair_scores(f, i, patch_size=p, similarity=similarity))(
        jnp.asarray(fc), jnp.asarray(pairs)))
    x = ref_nodes(fc, p)
    for b in range(B):
        _assert_scores(got[b], np.take_along_axis(ref_sim(x[b], x[b], similarity), pairs[b], axis=1), similarity)


def test_errors_name_the_value():
    fc, fs = map(jnp.asarray, _maps(seed=9))

    def knn(c=fc, s=fs, **kw):
        return raises_at_trace(lambda c, s: knn_edges(c, s, **{"patch_size": 3, "k": 3, **kw}), c, s)

    with pytest.raises(ValueError, match="k=0"):
        knn(k=0)
    with pytest.raises(ValueError, match=rf"k={HS * WS + 1}.*\({HS * WS}\)"):
        knn(k=HS * WS + 1)
    with pytest.raises(ValueError, match="'hamming'"):
        knn(similarity="hamming")
    with pytest.raises(ValueError, match="patch_size=4"):
        knn(patch_size=4)
    with pytest.raises(ValueError, match=r"style feature map of 3x3.*patch_size=5"):
        knn(s=fs[:, :3, :3], patch_size=5)
    with pytest.raises(ValueError, match=r"content feature map of 4x3.*patch_size=5"):
        knn(c=fc[:, :4, :3], patch_size=5)
    with pytest.raises(ValueError, match=r"content \(2, 6, 7, 4\) and style \(1, 7, 6, 4\)"):
        knn(s=fs[:1])
    with pytest.raises(ValueError, match="block_size=0"):
        knn(block_size=0)
    with pytest.raises(ValueError, match=rf"k={HC * WC}"):  # self excluded: at most N_c − 1 content neighbours
        raises_at_trace(lambda c: content_knn_edges(c, k=HC * WC, patch_size=3), fc)


def test_jit_traces_once():
    traces = []

    def f(c, s, **kw):
        traces.append(1)
        return knn_edges(c, s, **kw)

    knn = jax.jit(f, static_argnames=STATIC)
    fc, fs = _maps(seed=10)
    fc2, fs2 = _maps(seed=11)
    kw = dict(k=3, patch_size=3, stride=2, block_size=4)  # 3 blocks of one node row: a real compiled loop
    a = knn(jnp.asarray(fc), jnp.asarray(fs), **kw)
    b = knn(jnp.asarray(fc2), jnp.asarray(fs2), **kw)
    assert len(traces) == 1
    for (idx, score), (c_, s_) in ((a, (fc, fs)), (b, (fc2, fs2))):
        xc, xs = ref_nodes(c_, 3, 2), ref_nodes(s_, 3)
        for i in range(B):
            ref_idx, ref_score = ref_topk(ref_sim(xc[i], xs[i], "ncc"), 3)
            np.testing.assert_array_equal(np.asarray(idx[i]), ref_idx)
            np.testing.assert_allclose(np.asarray(score[i]), ref_score, atol=1e-5)


@pytest.mark.parametrize("similarity", ["ncc", "cosine", "euclidean"])
def test_gram_windows_match_cut_patches_with_mixed_scales(similarity):
    """knn_windows (feature Grams + shifted adds) on scale-mixed style windows equals the brute-force scores of
    the cut, mixed patch vectors, on non-negative features with a large mean (VGG-like: the algebraic centring
    must not cancel)."""
    from jaxstyle.graph.build import knn_windows
    from jaxstyle.graph.deform import mixed_style_nodes, scale_maps
    from jaxstyle.ops.patches import feat2patch

    rng = np.random.default_rng(11)
    fc = jnp.asarray(np.abs(rng.normal(size=(B, 10, 9, C))) + 3.0, jnp.float32)
    fs = jnp.asarray(np.abs(rng.normal(size=(B, 12, 11, C))) + 3.0, jnp.float32)
    pi = jax.nn.softmax(jnp.asarray(rng.normal(size=(B, 12, 11, 3)), jnp.float32), axis=-1)
    scales, k = (1, 2, 3), 4
    idx, val = qjit(lambda c, s, w: knn_windows(c, scale_maps(s, scales), k=k, patch_size=3, dilations=scales,
                                                weights=w, similarity=similarity, block_size=20))(fc, fs, pi)
    ref = np.asarray(qjit(lambda c, s, w: scores(feat2patch(c, 3), mixed_style_nodes(s, w, scales, 3),
                                                 similarity))(fc, fs, pi))
    assert idx.shape == val.shape == (B, 90, k)
    tol = dict(rtol=1e-5, atol=1e-3) if similarity == "euclidean" else dict(atol=2e-5)
    np.testing.assert_allclose(np.asarray(val), -np.sort(-ref, axis=-1)[..., :k], **tol)
    np.testing.assert_allclose(np.take_along_axis(ref, np.asarray(idx), -1), np.asarray(val), **tol)
