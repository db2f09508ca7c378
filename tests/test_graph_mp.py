"""graph.graphs / graph.message_passing / graph.deform: the GraphsTuple contract, fast (grid) path == general (jraph
segment) path for every aggregator, variable-degree graphs, soft Style-Swap at init, and the deformable scales
(spec §4, §5, §6, §14).

XLA:CPU compile time dominates these tiny shapes, so every comparison runs under one jit per configuration with the
quick compile settings (-O0, no MLIR fusion emitters: the same computation, ~5x less compile time).
"""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jaxstyle.graph.build import knn_edges
from jaxstyle.graph.deform import ScalePredictor, mix_probs, scale_maps
from jaxstyle.graph.graphs import build_graph, unbatch, with_patches
from jaxstyle.graph.message_passing import AGGREGATORS, GraphLayer, node_patches, propagate_fast, propagate_general
from jaxstyle.ops.patches import feat2patch

B, H, W, HS, WS, C, P, K, KC, HEADS = 2, 5, 6, 6, 7, 8, 3, 3, 2, 2
NC, NS = H * W, HS * WS
EPS = 1e-8


QUICK = {"xla_backend_optimization_level": 0, "xla_cpu_use_fusion_emitters": False} \
    if jax.default_backend() == "cpu" else None


def jit(fn, **kw):
    return jax.jit(fn, compiler_options=QUICK, **kw)


BUILD = jit(build_graph)


# -- NumPy references ----------------------------------------------------------------------------------------------

def ref_nodes(x: np.ndarray, p: int) -> np.ndarray:
    """Reflect-padded p×p windows at every location, position-major: ``[h, w, C] → [h·w, p²·C]`` float64."""
    h, w, _ = x.shape
    r = p // 2
    xp = np.pad(x.astype(np.float64), ((r, r), (r, r), (0, 0)), mode="reflect")
    return np.stack([xp[y:y + p, xx:xx + p].reshape(-1) for y in range(h) for xx in range(w)])


def ref_ncc(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a - a.mean(-1, keepdims=True)
    b = b - b.mean(-1, keepdims=True)
    return (a @ b.T) / np.outer(np.linalg.norm(a, axis=-1) + EPS, np.linalg.norm(b, axis=-1) + EPS)


def ref_fold(z: np.ndarray, hw, p: int, fold: int | None = None) -> np.ndarray:
    """Patch2Feat with explicit loops: ``[h·w, p²·C] → [h, w, C]``, each location the mean of the covering taps
    (of the central ``fold × fold`` taps of each window when given)."""
    h, w = hw
    z = z.reshape(h * w, p * p, -1)
    r = p // 2
    taps = range((p - (fold or p)) // 2, (p + (fold or p)) // 2)
    acc = np.zeros((h, w, z.shape[-1]))
    cnt = np.zeros((h, w, 1))
    for i, (y, x) in enumerate(itertools.product(range(h), range(w))):
        for dy in taps:
            for dx in taps:
                u, v = y + dy - r, x + dx - r
                if 0 <= u < h and 0 <= v < w:
                    acc[u, v] += z[i, dy * p + dx]
                    cnt[u, v] += 1
    return acc / cnt


# -- fixtures --------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def feats():
    rng = np.random.default_rng(0)
    return rng.normal(size=(B, H, W, C)).astype(np.float32), rng.normal(size=(B, HS, WS, C)).astype(np.float32)


def _random_edges(seed: int, ties: bool = False):
    """k distinct style neighbours per content node with descending scores (``ties``: scores on a coarse grid, equal
    scores in ascending style id as ``lax.top_k`` returns them); k_c distinct non-self content neighbours."""
    rng = np.random.default_rng(seed)
    idx = np.stack([np.stack([rng.permutation(NS)[:K] for _ in range(NC)]) for _ in range(B)]).astype(np.int32)
    score = rng.uniform(-1, 1, size=(B, NC, K))
    if ties:
        score = np.round(score * 1.5) / 1.5
    order = np.lexsort((idx, -score), axis=-1)  # by score descending, then by id
    idx, score = np.take_along_axis(idx, order, -1), np.take_along_axis(score, order, -1).astype(np.float32)
    cidx = np.stack([np.stack([(i + 1 + rng.permutation(NC - 1)[:KC]) % NC for i in range(NC)])
                     for _ in range(B)]).astype(np.int32)
    cscore = rng.uniform(-1, 1, size=(B, NC, KC)).astype(np.float32)
    return idx, score, cidx, cscore


def _graphs(feats, scales, seed=1, ties=False):
    fc, fs = feats
    idx, score, cidx, cscore = _random_edges(seed, ties)
    logits = np.random.default_rng(seed + 100).normal(size=(B, HS, WS, len(scales))).astype(np.float32)
    pi = jax.nn.softmax(jnp.asarray(logits), axis=-1)
    return BUILD(jnp.asarray(fc), jnp.asarray(fs), jnp.asarray(idx), jnp.asarray(score), scale_probs=pi,
                 content_idx=jnp.asarray(cidx), content_score=jnp.asarray(cscore))


def _perturb(layer: GraphLayer, seed: int) -> GraphLayer:
    """Move every learnable matrix away from its identity/zero init so that no term can hide behind it."""
    rng = np.random.default_rng(seed)
    for name in ("proj_s", "proj_q", "self_w", "mlp_w1", "mlp_w2"):
        if hasattr(layer, name):
            v = getattr(layer, name)
            v[...] = v[...] + jnp.asarray(0.3 * rng.normal(size=v[...].shape), jnp.float32)
    for name in ("mlp_b1", "mlp_b2"):
        if hasattr(layer, name):
            getattr(layer, name)[...] = jnp.asarray(0.2 * rng.normal(size=(C,)), jnp.float32)
    if hasattr(layer, "eps"):
        layer.eps[...] = jnp.asarray(0.25, jnp.float32)
    return layer


def _layers(agg: str, with_b: bool):
    """Layers for a case; the pseudo-aggregators "gatv2" / "gatv2-untied" are GAT with GATv2 attention."""
    common = dict(gamma_init=3.0, att_std=0.3)
    tied = agg != "gatv2-untied"
    if agg.startswith("gatv2"):
        agg, common["attention"] = "gat", "gatv2"
    la = _perturb(GraphLayer(C, P, HEADS, agg, rngs=nnx.Rngs(0), **common), 1)
    lb = None
    if with_b:  # as the model: tied projections, hard_nn's layer B averages uniformly
        agg_b = "mean_topk" if agg == "hard_nn" else agg
        lb = _perturb(GraphLayer(C, P, HEADS, agg_b, rngs=nnx.Rngs(2), tied=tied, **common), 3)
    return la, lb


def _general_batched(la, lb, sg, cg, scales):
    """propagate_general on every example of a stacked batch (vmapped over the unbatched graphs)."""
    def one(g, c):
        g = with_patches(g, content_hw=(H, W), style_hw=(HS, WS), patch_size=P, scales=scales)
        return propagate_general(la, lb, g, c, content_hw=(H, W), patch_size=P)

    return jax.vmap(one)(sg, cg)


# -- build_graph contract -------------------------------------------------------------------------------------------

def test_build_graphs_contract(feats):
    fc, fs = feats
    idx, score, cidx, cscore = _random_edges(5)
    pi = jax.nn.softmax(jnp.asarray(np.random.default_rng(6).normal(size=(B, HS, WS, 3)), jnp.float32), -1)
    traces = []

    def build(*a, **kw):
        traces.append(1)
        return build_graph(*a, **kw)

    bg = jit(build)
    sg, cg = bg(jnp.asarray(fc), jnp.asarray(fs), jnp.asarray(idx), jnp.asarray(score), scale_probs=pi,
                content_idx=jnp.asarray(cidx), content_score=jnp.asarray(cscore))
    n = NC + NS
    assert set(sg.nodes) == {"feat", "pos", "is_style", "scale_probs"}
    np.testing.assert_array_equal(sg.nodes["feat"], np.concatenate([fc.reshape(B, NC, C), fs.reshape(B, NS, C)], 1))
    pos = np.concatenate([np.argwhere(np.ones((H, W))), np.argwhere(np.ones((HS, WS)))])  # row-major (y, x)
    np.testing.assert_array_equal(sg.nodes["pos"], np.broadcast_to(pos, (B, n, 2)))
    np.testing.assert_array_equal(sg.nodes["is_style"], np.broadcast_to(np.arange(n) >= NC, (B, n)))
    probs = np.asarray(sg.nodes["scale_probs"])
    assert probs.shape == (B, n, 3)
    np.testing.assert_array_equal(probs[:, :NC], np.broadcast_to([1.0, 0.0, 0.0], (B, NC, 3)))
    np.testing.assert_array_equal(probs[:, NC:], np.asarray(pi).reshape(B, NS, 3))
    assert sg.senders.shape == sg.receivers.shape == sg.edges["ncc"].shape == (B, NC * K)
    assert sg.senders.dtype == sg.receivers.dtype == jnp.int32
    np.testing.assert_array_equal(sg.senders, idx.reshape(B, -1) + NC)  # style ids offset by N_c
    recv = np.asarray(sg.receivers)
    assert np.all(np.diff(recv, axis=1) >= 0)  # sorted
    assert np.all(np.stack([np.bincount(r, minlength=NC) for r in recv]) == K)  # exactly k each
    np.testing.assert_array_equal(sg.edges["ncc"], score.reshape(B, -1))
    np.testing.assert_array_equal(sg.n_node, [[n]] * B)
    np.testing.assert_array_equal(sg.n_edge, [[NC * K]] * B)
    assert sg.globals is None
    # content↔content graph
    assert set(cg.nodes) == {"feat", "pos"}
    np.testing.assert_array_equal(cg.nodes["feat"], fc.reshape(B, NC, C))
    np.testing.assert_array_equal(cg.senders, cidx.reshape(B, -1))
    np.testing.assert_array_equal(cg.receivers, np.broadcast_to(np.repeat(np.arange(NC), KC), (B, NC * KC)))
    np.testing.assert_array_equal(cg.edges["ncc"], cscore.reshape(B, -1))
    np.testing.assert_array_equal(cg.n_node, [[NC]] * B)
    np.testing.assert_array_equal(cg.n_edge, [[NC * KC]] * B)
    # static shapes: a second call with other values reuses the trace
    bg(jnp.asarray(fc) + 1, jnp.asarray(fs), jnp.asarray(idx[::-1]), jnp.asarray(score), scale_probs=pi * 0.5,
       content_idx=jnp.asarray(cidx), content_score=jnp.asarray(cscore))
    assert len(traces) == 1
    # defaults: one scale, no content graph
    sg1, cg1 = jit(build_graph)(jnp.asarray(fc), jnp.asarray(fs), jnp.asarray(idx), jnp.asarray(score))
    assert cg1 is None
    np.testing.assert_array_equal(sg1.nodes["scale_probs"], np.ones((B, n, 1)))
    # unbatch takes one example
    g0 = unbatch(sg, 1)
    assert g0.senders.shape == (NC * K,) and g0.nodes["feat"].shape == (n, C) and g0.n_node.shape == (1,)


# -- fast == general -----------------------------------------------------------------------------------------------

# Every aggregator with and without layer B; the scales alternate so every aggregator also meets both (1,) and
# (1, 3) (a full product would double the compile time for the same code paths).
FAST_CASES = [(agg, with_b, (1,) if (i + with_b) % 2 else (1, 3))
              for i, agg in enumerate(AGGREGATORS) for with_b in (False, True)]
FAST_CASES += [("gatv2", False, (1, 3)), ("gatv2", True, (1,)), ("gatv2-untied", True, (1, 3))]


@pytest.mark.parametrize("agg,with_b,scales", FAST_CASES,
                         ids=[f"{a}-{'AB' if b else 'A'}-s{''.join(map(str, s))}" for a, b, s in FAST_CASES])
def test_fast_equals_general(feats, agg, with_b, scales):
    # hard_nn: tied best scores too (e.g. a zero content patch has NCC 0 with everything): one edge, not their sum
    sg, cg = _graphs(feats, scales, ties=agg == "hard_nn")
    if agg == "hard_nn":
        ncc = np.asarray(sg.edges["ncc"]).reshape(B, NC, K)
        assert np.sum(ncc[..., 0] == ncc[..., 1]) > 5
    la, lb = _layers(agg, with_b)

    def both(sg, cg):
        fast = [propagate_fast(la, lb, sg, cg if with_b else None, content_hw=(H, W), style_hw=(HS, WS),
                               patch_size=P, scales=scales, chunk=7,  # 7 does not divide N_c = 30: ragged chunks
                               dense_max=dense_max) for dense_max in (0, 10**9)]  # per-edge gathers / adjacency
        return fast, _general_batched(la, lb, sg, cg if with_b else None, scales)

    (fast, dense), general = jit(both)(sg, cg)
    assert fast.shape == general.shape == (B, H, W, C) and fast.dtype == jnp.float32
    assert float(jnp.std(fast)) > 0.05  # non-degenerate output
    np.testing.assert_allclose(np.asarray(fast), np.asarray(general), atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(dense), np.asarray(general), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("agg", ["gat", "sage"])
def test_dense_adjacency_gradients_equal_gathers(feats, agg):
    """The dense-adjacency form (small graphs) has the gathers' gradients: layer parameters, features, π."""
    scales = (1, 3)
    sg, cg = _graphs(feats, scales)
    la, lb = _layers(agg, True)
    gd, params = nnx.split((la, lb), nnx.Param)
    weight = jax.random.normal(jax.random.key(3), (B, H, W, C))

    def loss(params, feat, pi, dense_max):
        la, lb = nnx.merge(gd, params)
        g = sg._replace(nodes={**sg.nodes, "feat": feat, "scale_probs": pi})
        out = propagate_fast(la, lb, g, cg, content_hw=(H, W), style_hw=(HS, WS), patch_size=P, scales=scales,
                             dense_max=dense_max)
        return jnp.sum(out * weight)

    grads = [jit(jax.grad(loss, argnums=(0, 1, 2)), static_argnums=3)(
        params, sg.nodes["feat"], sg.nodes["scale_probs"], m) for m in (0, 10**9)]
    flat = [jax.tree.leaves(g) for g in grads]
    assert len(flat[0]) == len(flat[1]) >= 6
    for a, b in zip(*flat):
        scale = float(jnp.max(jnp.abs(a))) or 1.0
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), atol=1e-5 * scale, rtol=1e-4)


# -- general path on variable-degree graphs --------------------------------------------------------------------------

def _drop_and_shuffle(graph, keep: np.ndarray, perm: np.ndarray):
    ids = np.flatnonzero(keep)[perm]
    return graph._replace(senders=graph.senders[ids], receivers=graph.receivers[ids],
                          edges={"ncc": graph.edges["ncc"][ids]})


def test_general_variable_degree(feats):
    scales = (1, 3)
    sg, cg = _graphs(feats, scales, seed=7)
    g = jit(lambda sg: with_patches(unbatch(sg, 0), content_hw=(H, W), style_hw=(HS, WS), patch_size=P,
                                    scales=scales))(sg)
    g = jax.tree.map(np.asarray, g)  # edges are dropped and shuffled in NumPy
    c = jax.tree.map(lambda x: np.asarray(x)[0], cg)
    rng = np.random.default_rng(8)
    keep = rng.random(NC * K) < 0.6
    keep[::K] = True  # at least one edge per content node; degrees 1..3
    keep_c = rng.random(NC * KC) < 0.5
    keep_c[::KC] = True
    n_e, n_ec = int(keep.sum()), int(keep_c.sum())
    perm, perm_c = rng.permutation(n_e), rng.permutation(n_ec)
    deg = np.bincount(g.receivers[keep], minlength=NC)
    assert deg.min() == 1 and deg.max() == K  # really variable

    g_sorted, g_shuf = _drop_and_shuffle(g, keep, np.arange(n_e)), _drop_and_shuffle(g, keep, perm)
    c_sorted, c_shuf = _drop_and_shuffle(c, keep_c, np.arange(n_ec)), _drop_and_shuffle(c, keep_c, perm_c)

    def run(la, lb, gg, cc):
        return propagate_general(la, lb, gg, cc, content_hw=(H, W), patch_size=P)

    mean_a = GraphLayer(C, P, HEADS, "mean_topk", rngs=nnx.Rngs(0))
    hard_a = GraphLayer(C, P, HEADS, "hard_nn", rngs=nnx.Rngs(0))
    gat_a, gat_b = _layers("gat", True)
    g_tie = g_shuf._replace(edges={"ncc": np.round(g_shuf.edges["ncc"] * 1.5) / 1.5})  # many tied scores
    outs = jit(lambda gs, gh, gt, cs, ch: (run(mean_a, None, gh, None), run(hard_a, None, gh, None),
                                           run(hard_a, None, gt, None), run(gat_a, gat_b, gs, cs),
                                           run(gat_a, gat_b, gh, ch)))(g_sorted, g_shuf, g_tie, c_sorted, c_shuf)
    mean_out, hard_out, tie_out, gat_sorted, gat_shuf = map(np.asarray, outs)

    # NumPy: uniform mean over the remaining edges / the best remaining edge, then the explicit fold
    patches = np.asarray(g.nodes["patches"], np.float64).reshape(NC + NS, -1)
    snd, rcv = np.asarray(g_shuf.senders), np.asarray(g_shuf.receivers)
    ncc, ncc_tie = np.asarray(g_shuf.edges["ncc"]), np.asarray(g_tie.edges["ncc"])
    m_mean = np.zeros((NC, patches.shape[1]))
    m_hard, m_tie = np.zeros_like(m_mean), np.zeros_like(m_mean)
    n_tied = 0
    for i in range(NC):
        e = np.flatnonzero(rcv == i)
        m_mean[i] = patches[snd[e]].mean(0)
        m_hard[i] = patches[snd[e[np.argmax(ncc[e])]]]
        best = e[ncc_tie[e] == ncc_tie[e].max()]
        n_tied += len(best) > 1
        m_tie[i] = patches[snd[best].min()]  # one edge: the lowest style id among the best
    assert n_tied >= 3
    np.testing.assert_allclose(mean_out, ref_fold(m_mean, (H, W), P), atol=1e-5)
    np.testing.assert_allclose(hard_out, ref_fold(m_hard, (H, W), P), atol=1e-5)
    np.testing.assert_allclose(tie_out, ref_fold(m_tie, (H, W), P), atol=1e-5)
    # gat (layers A and B): edge order does not matter
    np.testing.assert_allclose(gat_shuf, gat_sorted, atol=1e-5)


# -- soft Style-Swap at init ---------------------------------------------------------------------------------------

def test_soft_style_swap_at_init(feats):
    """Identity projections, γ → ∞, k = 1, one scale, no layer B: hard Style-Swap (with NCC matching); mean_topk with
    k = 3: the fold of the uniform mean of the 3 best patches."""
    fc, fs = map(jnp.asarray, feats)
    gat = GraphLayer(C, P, HEADS, "gat", rngs=nnx.Rngs(0), gamma_init=1e4)
    mean = GraphLayer(C, P, HEADS, "mean_topk", rngs=nnx.Rngs(0))

    def run(fc, fs):
        out = []
        for layer, k, fold in ((gat, 1, None), (mean, 3, None), (mean, 3, 1)):
            idx, score = knn_edges(fc, fs, k=k, patch_size=P)
            sg, _ = build_graph(fc, fs, idx, score)
            out.append(propagate_fast(layer, None, sg, None, content_hw=(H, W), style_hw=(HS, WS), patch_size=P,
                                      scales=(1,), fold_size=fold))
        return out

    swap, mean3, centre3 = map(np.asarray, jit(run)(fc, fs))
    for b in range(B):
        xc, xs = ref_nodes(feats[0][b], P), ref_nodes(feats[1][b], P)
        s = ref_ncc(xc, xs)
        order = np.argsort(-s, axis=1)
        top = np.take_along_axis(s, order[:, :4], axis=1)
        assert np.min(-np.diff(top, axis=1)) > 1e-5  # no near-ties in the data
        np.testing.assert_allclose(swap[b], ref_fold(xs[order[:, 0]], (H, W), P), atol=1e-4)
        np.testing.assert_allclose(mean3[b], ref_fold(xs[order[:, :3]].mean(1), (H, W), P), atol=1e-4)
        # fold_size=1: each location is the centre tap of its own node's output (the 3 best patches' centres)
        np.testing.assert_allclose(centre3[b], ref_fold(xs[order[:, :3]].mean(1), (H, W), P, fold=1), atol=1e-4)
        np.testing.assert_allclose(centre3[b], feats[1][b].reshape(NS, C)[order[:, :3]].mean(1).reshape(H, W, C),
                                   atol=1e-4)
        assert np.abs(centre3[b] - mean3[b]).mean() > 0.1
    with pytest.raises(ValueError, match="fold_size=2"):
        propagate_fast(mean, None, *build_graph(fc, fs, *knn_edges(fc, fs, k=3, patch_size=P))[:1], None,
                       content_hw=(H, W), style_hw=(HS, WS), patch_size=P, scales=(1,), fold_size=2)


# -- deformable scales -----------------------------------------------------------------------------------------------

def test_scale_maps_identity_and_area_downsample():
    x = np.random.default_rng(9).normal(size=(1, 12, 11, 3)).astype(np.float32)
    pi = np.random.default_rng(10).dirichlet(np.ones(2), size=12 * 11).astype(np.float32)
    p, s = 3, 3

    def run(x, pi):
        maps = scale_maps(x, (1, 3, 2))
        return (maps, feat2patch(maps[:, 1], p, dilation=3), feat2patch(maps[:, 2], p, dilation=2),
                feat2patch(x, p), node_patches(x[0], pi, (1, 3), p))

    maps, got, got2, plain, mixed = map(np.asarray, jit(run)(jnp.asarray(x), jnp.asarray(pi)))
    assert maps.shape == (1, 3, 12, 11, 3)
    np.testing.assert_array_equal(maps[:, 0], x)  # σ = 1: identity
    got = got[0].reshape(12, 11, p, p, 3)
    r = (p * s) // 2  # = 4: the (p·σ)×(p·σ) window centred at the node
    xp = np.pad(x[0].astype(np.float64), ((r, r), (r, r), (0, 0)), mode="reflect")
    interior = 0
    for y in range(12):
        for xx in range(11):
            crop = xp[y:y + p * s, xx:xx + p * s]  # centred at (y, xx)
            area = crop.reshape(p, s, p, s, 3).mean((1, 3))  # mean of σ×σ blocks
            # exact at every node (for odd σ the centred box mean commutes with the reflection) ...
            np.testing.assert_allclose(got[y, xx], area, atol=1e-5)
            if r <= y < 12 - r and r <= xx < 11 - r:  # ... and, where no reflection happens, a plain crop
                interior += 1
                window = x[0, y - r:y + r + 1, xx - r:xx + r + 1].astype(np.float64)
                np.testing.assert_allclose(got[y, xx], window.reshape(p, s, p, s, 3).mean((1, 3)), atol=1e-5)
    assert interior == 12
    # even σ = 2: the same area down-sample, shifted by half a feature pixel (rows y−2 .. y+3)
    got2 = got2[0].reshape(12, 11, p, p, 3)
    for y, xx in ((4, 5), (6, 4)):
        np.testing.assert_allclose(got2[y, xx], x[0, y - 2:y + 4, xx - 2:xx + 4].reshape(p, 2, p, 2, 3).mean((1, 3)),
                                   atol=1e-5)
    # node_patches mixes the scales linearly with the node's probabilities
    mixed, plain = mixed.reshape(12, 11, p, p, 3), plain[0].reshape(12, 11, p, p, 3)
    pi = pi.reshape(12, 11, 2, 1, 1, 1)
    np.testing.assert_allclose(mixed, pi[:, :, 0] * plain + pi[:, :, 1] * got, atol=1e-5)


def test_mix_probs():
    logits = jnp.asarray(np.random.default_rng(11).normal(size=(2, 4, 5, 3)), jnp.float32)
    weights = jnp.asarray(np.random.default_rng(12).normal(size=(3,)), jnp.float32)
    key = jax.random.key(0)

    def run(logits, key):
        st_loss = lambda l: jnp.sum(mix_probs(l, mode="gumbel_st", key=key, tau=0.5) * weights)  # noqa: E731
        return (mix_probs(logits, mode="soft", tau=0.7), jax.nn.softmax(logits / 0.7, axis=-1),
                mix_probs(logits, mode="gumbel_st"), jax.nn.one_hot(jnp.argmax(logits, -1), 3),
                mix_probs(logits, mode="gumbel_st", key=key), jax.grad(st_loss)(logits))

    soft, soft_ref, hard, hard_ref, st, grad = map(np.asarray, jit(run)(logits, key))
    np.testing.assert_allclose(soft.sum(-1), 1.0, atol=1e-6)
    np.testing.assert_allclose(soft, soft_ref, atol=1e-6)
    np.testing.assert_array_equal(hard, hard_ref)  # inference (no key): the argmax one-hot, no noise
    np.testing.assert_allclose(st.max(-1), 1.0, atol=1e-6)
    np.testing.assert_allclose(st.sum(-1), 1.0, atol=1e-6)
    assert np.all((np.abs(st) < 1e-6) | (np.abs(st - 1) < 1e-6))  # one-hot forward
    assert np.any(st.argmax(-1) != hard.argmax(-1))  # the Gumbel noise does change some choices
    assert np.abs(grad).max() > 1e-3  # straight-through: the softmax gradient reaches the logits
    with pytest.raises(ValueError, match="'hard'"):
        mix_probs(logits, mode="hard")


def test_scale_predictor_shape_and_init_prefers_scale_one():
    rng = np.random.default_rng(13)
    fs = jnp.asarray(rng.normal(size=(2, 6, 7, C)), jnp.float32)
    fc = jnp.asarray(rng.normal(size=(2, 5, 4, C)), jnp.float32)
    pred = ScalePredictor(C, 3, (8, 8), rngs=nnx.Rngs(0))
    logits = jit(lambda s, c: pred(s, c))(fs, fc)
    assert logits.shape == (2, 6, 7, 3)
    probs = np.asarray(mix_probs(logits))
    assert np.all(probs.argmax(-1) == 0)
    assert probs[..., 0].min() > 0.7  # softmax([2, 0, 0]) ≈ 0.79, barely moved by the tiny head weights
