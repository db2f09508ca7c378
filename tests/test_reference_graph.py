"""The GNN's graph maths against independent float64 NumPy references written here from the spec's formulas
(``shared/spec/gnn_style_transfer.md`` §3.1, §4, §5, §6, §11) — never from project code.

``tests/test_graph_mp.py`` compares the fast path with the general path; both share the per-edge code
(``GraphLayer.logits``, ``pair_term``, the edge weights, the self-loops), so a wrong formula there passes it. Here
every aggregator of ``jaxstyle.graph.message_passing`` (both paths), the deformable scale mixing, Feat2Patch /
Patch2Feat and ``fold_size``, the seeded edge sampling of the GNN model and the README's k-diversity claim are
checked against what the formula says. The layers' parameters are read out of the nnx modules (after being moved
away from their identity / zero init) and fed to the NumPy code.

Tolerances: the project computes in float32, the references in float64; outputs are O(1), so ``atol = rtol =
1e-4`` unless stated.

XLA:CPU compile time dominates these tiny shapes, so each aggregator's paths run under one jit with the quick
compile settings (as in ``test_graph_mp.py``).
"""


import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jaxstyle.graph.deform import mix_probs, mixed_style_nodes, scale_maps
from jaxstyle.graph.graphs import build_graph, unbatch, with_patches
from jaxstyle.graph.message_passing import GraphLayer, propagate_fast, propagate_general
from jaxstyle.ops.patches import feat2patch, patch2feat

QUICK = {"xla_backend_optimization_level": 0, "xla_cpu_use_fusion_emitters": False} \
    if jax.default_backend() == "cpu" else None
TOL = dict(atol=1e-4, rtol=1e-4)


def jit(fn, **kw):
    return jax.jit(fn, compiler_options=QUICK, **kw)


# -- NumPy float64 references ---------------------------------------------------------------------------------------

def np_patches(x: np.ndarray, p: int, *, dilation: int = 1, stride: int = 1, padding: str = "reflect") -> np.ndarray:
    """Spec §3.1/§14 Feat2Patch by explicit loops: ``[h, w, C] → [N, p², C]``; node (y, x) (every ``stride``-th
    location, row-major) is the p×p window centred there with taps ``dilation`` apart, after padding every side by
    ⌊p/2⌋·dilation (reflect or zeros)."""
    h, w, _ = x.shape
    r = (p // 2) * dilation
    xp = np.pad(np.asarray(x, np.float64), ((r, r), (r, r), (0, 0)), mode="reflect" if padding == "reflect" else
                "constant")
    nodes = []
    for y in range(0, h, stride):
        for xx in range(0, w, stride):
            # window centre (y, xx) sits at (y + r, xx + r) of the padded map
            nodes.append([xp[y + r + (dy - p // 2) * dilation, xx + r + (dx - p // 2) * dilation]
                          for dy in range(p) for dx in range(p)])
    return np.asarray(nodes)


def np_fold(z: np.ndarray, hw, p: int, *, stride: int = 1, dilation: int = 1, fold: int | None = None) -> np.ndarray:
    """Spec §6 Patch2Feat: ``[N, p², C] → [h, w, C]``, each location the mean of the window taps that cover it,
    taps landing on the padding dropped (not reflected back); with ``fold``, only the central fold×fold taps of
    each window count. Uncovered locations are 0."""
    h, w = hw
    acc, cnt = np.zeros((h, w, z.shape[-1])), np.zeros((h, w, 1))
    taps = range((p - (fold or p)) // 2, (p + (fold or p)) // 2)
    centres = [(y, x) for y in range(0, h, stride) for x in range(0, w, stride)]
    for i, (y, x) in enumerate(centres):
        for dy in taps:
            for dx in taps:
                u, v = y + (dy - p // 2) * dilation, x + (dx - p // 2) * dilation
                if 0 <= u < h and 0 <= v < w:
                    acc[u, v] += z[i, dy * p + dx]
                    cnt[u, v] += 1
    return acc / np.maximum(cnt, 1)


def np_box(x: np.ndarray, s: int) -> np.ndarray:
    """Spec §4.1 step 1: ``A_σ`` = σ×σ mean with stride 1 and SAME reflect padding (⌊(σ−1)/2⌋ before, ⌊σ/2⌋ after,
    the documented half-pixel shift for even σ). ``[h, w, C]``."""
    h, w, _ = x.shape
    lo, hi = (s - 1) // 2, s // 2
    xp = np.pad(np.asarray(x, np.float64), ((lo, hi), (lo, hi), (0, 0)), mode="reflect")
    return np.stack([np.stack([xp[y:y + s, xx:xx + s].mean((0, 1)) for xx in range(w)]) for y in range(h)])


def np_mixed_nodes(x: np.ndarray, pi: np.ndarray, scales, p: int) -> np.ndarray:
    """Spec §4.1–4.3: ``x_j = Σ_σ π_jσ · Feat2Patch(A_σ, dilation σ)[j]`` → ``[N, p², C]``; ``pi [N, S]``."""
    return sum(pi[:, si, None, None] * np_patches(np_box(x, s), p, dilation=s) for si, s in enumerate(scales))


def leaky(x, slope=0.2):
    return np.where(x >= 0, x, slope * x)


def softmax(x, axis=-1):
    e = np.exp(x - x.max(axis, keepdims=True))
    return e / e.sum(axis, keepdims=True)


def np_mlp(prm, x):
    return np.maximum(x @ prm["mlp_w1"] + prm["mlp_b1"], 0.0) @ prm["mlp_w2"] + prm["mlp_b2"]


def np_relation(prm: dict, agg: str, heads: int, recv: np.ndarray, send: np.ndarray, r_ids, s_ids, ncc, *,
                attention: str = "gat", tied: bool = False, ncc_bias: bool = True) -> np.ndarray:
    """One relation (spec §5; ablation aggregators §12) written per receiver from the formulas.

    ``recv [N_r, P, C]`` the receivers' own patches, ``send [N_s, P, C]`` the senders' patches, edges
    ``(r_ids, s_ids, ncc)``. ``z_j = x_j·W_s`` position-wise (``W = I_{p²} ⊗ A``), heads split the channels.

    * gat:   ``α_ij^h = softmax_j LeakyReLU(a_q^h·q_i^h + a_s^h·z_j^h + γ^h·NCC_ij)``, ``m_i^h = Σ_j α_ij^h z_j^h``;
    * gatv2: ``α_ij^h = softmax_j (a^h·LeakyReLU(q_i^h + z_j^h) + γ^h·NCC_ij)``;
    * gcn:   ``m_i = Σ_j z_j / sqrt(d_i·d_j)``, d_i the receiver's in-degree, d_j the sender's out-degree in the
      relation (DGL ``GraphConv(norm="both")``, the paper's framework; self-loops count where the relation has them);
    * gin:   ``MLP((1 + ε)·x_i W_self + Σ_j z_j)``;  sage: ``x_i W_self + mean_j z_j``;
    * edgeconv: ``max_j MLP([x_i ‖ z_j − x_i])`` (element-wise max);
    * mean_topk: ``mean_j x_j``;  hard_nn: ``x_j`` of the highest-NCC edge (no projection).
    """
    c = recv.shape[-1]
    ch = c // heads
    z = send if agg in ("mean_topk", "hard_nn") else send @ prm["proj_s"]
    out = np.zeros((recv.shape[0], recv.shape[1], c))
    for i in range(recv.shape[0]):
        e = np.flatnonzero(r_ids == i)
        js = s_ids[e]
        if agg == "gat":
            q = recv[i] @ prm["proj_s" if tied else "proj_q"]
            logit = np.zeros((len(e), heads))
            for t, j in enumerate(js):
                for h in range(heads):
                    blk = slice(h * ch, (h + 1) * ch)
                    bias = prm["gamma"][h] * ncc[e[t]] if ncc_bias else 0.0
                    if attention == "gatv2":
                        logit[t, h] = np.sum(prm["att_s"][:, blk] * leaky(q[:, blk] + z[j][:, blk])) + bias
                    else:
                        logit[t, h] = leaky(np.sum(prm["att_q"][:, blk] * q[:, blk])
                                            + np.sum(prm["att_s"][:, blk] * z[j][:, blk]) + bias)
            alpha = softmax(logit, axis=0)  # over the receiver's edges, per head
            out[i] = sum(np.repeat(alpha[t], ch)[None, :] * z[j] for t, j in enumerate(js))
        elif agg == "gcn":
            out[i] = sum(z[j] / np.sqrt(len(e) * np.sum(s_ids == j)) for j in js)
        elif agg == "mean_topk":
            out[i] = z[js].mean(0)
        elif agg == "hard_nn":
            out[i] = z[js[np.argmax(ncc[e])]]
        elif agg == "sage":
            out[i] = recv[i] @ prm["self_w"] + z[js].mean(0)
        elif agg == "gin":
            out[i] = np_mlp(prm, (1.0 + prm["eps"]) * (recv[i] @ prm["self_w"]) + z[js].sum(0))
        elif agg == "edgeconv":
            out[i] = np.max([np_mlp(prm, np.concatenate([recv[i], z[j] - recv[i]], -1)) for j in js], axis=0)
        else:
            raise AssertionError(agg)
    return out


# -- message passing: every aggregator, both paths ------------------------------------------------------------------

H, W, HS, WS, C, P, K, KC = 4, 5, 4, 4, 4, 3, 3, 2
NC, NS = H * W, HS * WS
SCALES = (1, 3)


def _params(layer: GraphLayer) -> dict[str, np.ndarray]:
    """The layer's nnx parameters as float64 NumPy arrays, by attribute name."""
    return {str(name): np.asarray(v, np.float64)
            for name, v in nnx.to_pure_dict(nnx.state(layer, nnx.Param)).items()}


def _randomise(layer: GraphLayer, seed: int) -> GraphLayer:
    """Set every parameter to random values (projections ≈ I + noise, attention vectors and γ O(1) with both signs
    of the logits present) so that no term hides behind the identity / zero init."""
    rng = np.random.default_rng(seed)
    for name, v in nnx.to_pure_dict(nnx.state(layer, nnx.Param)).items():
        shape = np.shape(v)
        if name in ("proj_s", "proj_q"):
            new = np.eye(C) + 0.4 * rng.normal(size=shape)
        elif name == "gamma":
            new = np.array([2.0, -1.5, 1.0, 0.5][:shape[0]])
        elif name == "eps":
            new = np.array(0.3)
        else:  # att_q / att_s / self_w / mlp weights and biases
            new = 0.5 * rng.normal(size=shape)
        getattr(layer, name)[...] = jnp.asarray(new, jnp.float32)
    return layer


def _edges(seed: int):
    """k distinct style neighbours per content node, scores distinct and descending (as ``lax.top_k`` returns
    them); k_c distinct non-self content neighbours with random NCC."""
    rng = np.random.default_rng(seed)
    idx = np.stack([rng.permutation(NS)[:K] for _ in range(NC)]).astype(np.int32)
    score = -np.sort(-rng.uniform(-1, 1, size=(NC, K)), axis=1).astype(np.float32)
    cidx = np.stack([(i + 1 + rng.permutation(NC - 1)[:KC]) % NC for i in range(NC)]).astype(np.int32)
    cscore = rng.uniform(-1, 1, size=(NC, KC)).astype(np.float32)
    return idx, score, cidx, cscore


# (aggregator, heads, attention, ncc_edge_bias); hard_nn's layer B is mean_topk, as in the model.
MP_CASES = [("gat", 1, "gat", True), ("gat", 2, "gat", True), ("gat", 2, "gat", False), ("gatv2", 1, "gatv2", True),
            ("gatv2", 2, "gatv2", True), ("gcn", 2, "gat", True), ("gin", 2, "gat", True),
            ("edgeconv", 2, "gat", True), ("sage", 2, "gat", True), ("mean_topk", 2, "gat", True),
            ("hard_nn", 2, "gat", True)]


@pytest.mark.parametrize("name,heads,attention,ncc_bias", MP_CASES,
                         ids=[f"{a}-h{h}{'' if b else '-nobias'}" for a, h, _, b in MP_CASES])
def test_message_passing_matches_numpy(name, heads, attention, ncc_bias):
    """Layer A (style→content, no self-loop), layer B (content↔content with self-loops, NCC 1, tied projections)
    and Patch2Feat (overlap average) of ``propagate_general`` and ``propagate_fast`` (per-edge gathers and dense
    adjacency, with and without layer B) equal :func:`np_relation` + :func:`np_fold` on scale-mixed NumPy patches."""
    agg = "gat" if name == "gatv2" else name
    rng = np.random.default_rng(0)
    fc = rng.normal(size=(1, H, W, C)).astype(np.float32)
    fs = rng.normal(size=(1, HS, WS, C)).astype(np.float32)
    pi = rng.dirichlet(np.ones(len(SCALES)), size=(1, HS, WS)).astype(np.float32)
    idx, score, cidx, cscore = _edges(1)
    common = dict(attention=attention, ncc_edge_bias=ncc_bias)
    la = _randomise(GraphLayer(C, P, heads, agg, rngs=nnx.Rngs(0), **common), 2)
    lb = _randomise(GraphLayer(C, P, heads, "mean_topk" if agg == "hard_nn" else agg, rngs=nnx.Rngs(1), tied=True,
                               **common), 3)
    sg, cg = build_graph(jnp.asarray(fc), jnp.asarray(fs), jnp.asarray(idx[None]), jnp.asarray(score[None]),
                         scale_probs=jnp.asarray(pi), content_idx=jnp.asarray(cidx[None]),
                         content_score=jnp.asarray(cscore[None]))

    def run(sg, cg):
        kw = dict(content_hw=(H, W), style_hw=(HS, WS), patch_size=P, scales=SCALES, chunk=5)
        fast = [propagate_fast(la, lb_, sg, cg if lb_ is not None else None, dense_max=dm, **kw)[0]
                for lb_ in (None, lb) for dm in (0, 10**9)]
        g = with_patches(unbatch(sg, 0), content_hw=(H, W), style_hw=(HS, WS), patch_size=P, scales=SCALES)
        general = [propagate_general(la, lb_, g, unbatch(cg, 0) if lb_ is not None else None, content_hw=(H, W),
                                     patch_size=P) for lb_ in (None, lb)]
        return fast, general

    (fast_a, dense_a, fast_ab, dense_ab), (gen_a, gen_ab) = map(
        lambda t: [np.asarray(x) for x in t], jit(run)(sg, cg))

    # NumPy: nodes, layer A, layer B (self-loops with NCC 1), fold
    xc = np_patches(fc[0], P)
    xs = np_mixed_nodes(fs[0], pi[0].reshape(NS, -1), SCALES, P)
    kw = dict(attention=attention, ncc_bias=ncc_bias)
    m = np_relation(_params(la), agg, heads, xc, xs, np.repeat(np.arange(NC), K), idx.reshape(-1),
                    score.reshape(-1).astype(np.float64), **kw)
    ref_a = np_fold(m, (H, W), P)
    r_b = np.concatenate([np.repeat(np.arange(NC), KC), np.arange(NC)])
    s_b = np.concatenate([cidx.reshape(-1), np.arange(NC)])
    ncc_b = np.concatenate([cscore.reshape(-1), np.ones(NC)]).astype(np.float64)
    ref_ab = np_fold(np_relation(_params(lb), "mean_topk" if agg == "hard_nn" else agg, heads, m, m, r_b, s_b, ncc_b,
                                 tied=True, **kw), (H, W), P)
    assert np.std(ref_a) > 0.1 and np.abs(ref_ab - ref_a).mean() > 0.01  # non-degenerate, layer B does something
    for got in (fast_a, dense_a, gen_a):
        np.testing.assert_allclose(got, ref_a, **TOL)
    for got in (fast_ab, dense_ab, gen_ab):
        np.testing.assert_allclose(got, ref_ab, **TOL)


# -- deformable scales: A_σ, the mixed style nodes, π ---------------------------------------------------------------

def test_scale_maps_and_mixed_style_nodes_match_numpy():
    """Spec §4.1/§4.3: ``scale_maps`` is the σ×σ box mean (stride 1, SAME reflect padding) and ``mixed_style_nodes``
    is ``Σ_σ π_jσ · Feat2Patch(A_σ, dilation σ)[j]``, both against NumPy loops (σ = 1, 2, 3, p = 3)."""
    rng = np.random.default_rng(20)
    scales, p = (1, 2, 3), 3
    x = rng.normal(size=(2, 5, 6, 3)).astype(np.float32)
    pi = softmax(rng.normal(size=(2, 5, 6, 3)) * 1.5).astype(np.float32)
    maps, mixed = map(np.asarray, jit(lambda x, pi: (scale_maps(x, scales), mixed_style_nodes(x, pi, scales, p)))(
        jnp.asarray(x), jnp.asarray(pi)))
    assert maps.shape == (2, 3, 5, 6, 3) and mixed.shape == (2, 30, p * p * 3)
    for b in range(2):
        for si, s in enumerate(scales):
            np.testing.assert_allclose(maps[b, si], np_box(x[b], s), **TOL)
        ref = np_mixed_nodes(x[b], pi[b].reshape(30, 3).astype(np.float64), scales, p)
        np.testing.assert_allclose(mixed[b].reshape(30, p * p, 3), ref, **TOL)
    # the mixture really weighs the scales: it is none of the single-scale patch sets
    for s in scales:
        assert np.abs(mixed[0].reshape(30, p * p, 3) - np_patches(np_box(x[0], s), p, dilation=s)).mean() > 0.05


def test_mix_probs_soft_and_straight_through_match_numpy():
    """Spec §4.3: soft ``π = softmax(l / τ)``; ``gumbel_st`` at inference the argmax one-hot, in training the one-hot
    of ``argmax(l + g)`` forward and the gradient of ``softmax((l + g) / τ)`` backward:
    ``∂(w·π)/∂l = s ⊙ (w − s·w) / τ`` (g: the Gumbel noise of the given key)."""
    rng = np.random.default_rng(21)
    logits = rng.normal(size=(3, 4, 3)).astype(np.float32)
    weights = rng.normal(size=(3,)).astype(np.float32)
    key, tau = jax.random.key(5), 0.6

    def run(logits):
        st_loss = lambda l: jnp.sum(mix_probs(l, mode="gumbel_st", key=key, tau=tau) * weights)  # noqa: E731
        return (mix_probs(logits, mode="soft", tau=tau), mix_probs(logits, mode="soft", tau=1.7),
                mix_probs(logits, mode="gumbel_st", tau=tau), mix_probs(logits, mode="gumbel_st", key=key, tau=tau),
                jax.grad(st_loss)(logits), jax.random.gumbel(key, logits.shape, jnp.float32))

    soft, soft17, hard, st, grad, g = map(np.asarray, jit(run)(jnp.asarray(logits)))
    l64, g = logits.astype(np.float64), g.astype(np.float64)
    np.testing.assert_allclose(soft, softmax(l64 / tau), atol=1e-6)
    np.testing.assert_allclose(soft17, softmax(l64 / 1.7), atol=1e-6)
    np.testing.assert_array_equal(hard, np.eye(3)[l64.argmax(-1)])
    np.testing.assert_allclose(st, np.eye(3)[(l64 + g).argmax(-1)], atol=1e-6)
    assert np.any((l64 + g).argmax(-1) != l64.argmax(-1))  # the noise matters for this key
    s = softmax((l64 + g) / tau)
    np.testing.assert_allclose(grad, s * (weights - (s * weights).sum(-1, keepdims=True)) / tau, atol=1e-5)


# -- Feat2Patch / Patch2Feat / fold_size ----------------------------------------------------------------------------

PATCH_CASES = [(3, 1, 1, "reflect"), (3, 2, 2, "reflect"), (5, 1, 1, "reflect"), (5, 3, 1, "zeros"),
               (3, 2, 1, "zeros")]


def test_feat2patch_and_patch2feat_match_numpy():
    """Spec §3.1/§6/§14: ``feat2patch`` = the p×p windows (taps ``dilation`` apart, every ``stride``-th centre,
    reflect/zero padding ⌊p/2⌋·dilation, position-major) and ``patch2feat`` = the overlap average of the taps that
    land inside the map (padding cropped, nothing folded back through the reflection), vs NumPy loops."""
    rng = np.random.default_rng(30)
    x = rng.normal(size=(2, 6, 7, 3)).astype(np.float32)
    zs = {case: rng.normal(size=(2, len(range(0, 6, case[1])) * len(range(0, 7, case[1])),
                                 case[0] ** 2 * 3)).astype(np.float32) for case in PATCH_CASES}

    def run(x, zs):
        return [(feat2patch(x, p, stride=s, dilation=d, padding=pad),
                 patch2feat(zs[i], (6, 7), p, stride=s, dilation=d)) for i, (p, s, d, pad) in enumerate(PATCH_CASES)]

    outs = jit(run)(jnp.asarray(x), [jnp.asarray(zs[c]) for c in PATCH_CASES])
    for (p, s, d, pad), (patches, folded) in zip(PATCH_CASES, outs):
        patches, folded, z = np.asarray(patches), np.asarray(folded), zs[(p, s, d, pad)]
        for b in range(2):
            ref = np_patches(x[b], p, dilation=d, stride=s, padding=pad)
            np.testing.assert_allclose(patches[b], ref.reshape(ref.shape[0], -1), atol=1e-6)
            np.testing.assert_allclose(folded[b], np_fold(z[b].reshape(z.shape[1], p * p, 3), (6, 7), p, stride=s,
                                                          dilation=d), atol=1e-5)


def test_fold_size_folds_the_central_taps():
    """``fold_size`` (README "k and diversity"): Patch2Feat of the message-passing output averages only the central
    fold×fold taps of every node's window (fold 1: the node's own centre tap), with and without layer B, vs the
    NumPy mean-of-k-patches messages folded by :func:`np_fold`."""
    h, w, hs, ws, c, p, k, kc = 5, 6, 5, 5, 3, 5, 2, 2
    rng = np.random.default_rng(31)
    fc = rng.normal(size=(1, h, w, c)).astype(np.float32)
    fs = rng.normal(size=(1, hs, ws, c)).astype(np.float32)
    idx = np.stack([rng.permutation(hs * ws)[:k] for _ in range(h * w)]).astype(np.int32)
    score = -np.sort(-rng.uniform(-1, 1, size=(h * w, k)), axis=1).astype(np.float32)
    cidx = np.stack([(i + 1 + rng.permutation(h * w - 1)[:kc]) % (h * w) for i in range(h * w)]).astype(np.int32)
    cscore = rng.uniform(-1, 1, size=(h * w, kc)).astype(np.float32)
    la = GraphLayer(c, p, 1, "mean_topk", rngs=nnx.Rngs(0))
    lb = GraphLayer(c, p, 1, "mean_topk", rngs=nnx.Rngs(0))
    sg, cg = build_graph(jnp.asarray(fc), jnp.asarray(fs), jnp.asarray(idx[None]), jnp.asarray(score[None]),
                         content_idx=jnp.asarray(cidx[None]), content_score=jnp.asarray(cscore[None]))
    folds = (None, 3, 1)

    def run(sg, cg):
        kw = dict(content_hw=(h, w), style_hw=(hs, ws), patch_size=p, scales=(1,))
        return ([propagate_fast(la, None, sg, None, fold_size=f, **kw)[0] for f in folds],
                propagate_fast(la, lb, sg, cg, fold_size=3, **kw)[0])

    outs_a, out_ab = jit(run)(sg, cg)
    m = np_patches(fs[0], p)[idx].mean(1)  # mean of the k style patches, [N_c, p², C]
    r_b = np.concatenate([np.repeat(np.arange(h * w), kc), np.arange(h * w)])
    s_b = np.concatenate([cidx.reshape(-1), np.arange(h * w)])
    m_b = np_relation({}, "mean_topk", 1, m, m, r_b, s_b, np.ones(len(r_b)))
    refs = [np_fold(m, (h, w), p, fold=f) for f in folds]
    for got, ref in zip(outs_a, refs):
        np.testing.assert_allclose(np.asarray(got), ref, **TOL)
    np.testing.assert_allclose(np.asarray(out_ab), np_fold(m_b, (h, w), p, fold=3), **TOL)
    assert np.abs(refs[1] - refs[0]).mean() > 0.05 and np.abs(refs[2] - refs[1]).mean() > 0.05


# -- the GNN's seeded edge sampling ---------------------------------------------------------------------------------

class _StubEncoder:
    """Just enough of a VGG19 to build a small GNNStyle (the encoder is never called: features are given)."""

    def channels(self, layer: str) -> int:
        return 8


SAMPLE_SCORE = np.array([0.9, 0.7, 0.4, 0.1])  # one content node's k = 4 best NCC scores (descending)
SAMPLE_IDS = np.array([5, 2, 7, 0])  # ... and their style node ids


def _sampled_ids(monkeypatch, taus, seeds, keep: int = 1) -> dict[float, np.ndarray]:
    """``{τ: [len(seeds), N_c, keep]}``: the style ids ``GNNStyle.transfer`` keeps for every content node (all with
    the scores ``SAMPLE_SCORE``) at each seed, read off the graph that message passing receives."""
    from jaxstyle.models import gnn

    cfg = gnn.default_config()
    cfg.update(scales=(1,), use_content_edges=False, use_adain_refine=False, heads=2, sample_keep=keep)
    model = gnn.GNNStyle(_StubEncoder(), cfg, rngs=nnx.Rngs(0))
    k = len(SAMPLE_SCORE)

    def fake_knn(fc, maps, *, k, **kw):  # every content node gets the same k style edges
        b, n = fc.shape[0], fc.shape[1] * fc.shape[2]
        return (jnp.broadcast_to(jnp.asarray(SAMPLE_IDS, jnp.int32), (b, n, k)),
                jnp.broadcast_to(jnp.asarray(SAMPLE_SCORE, jnp.float32), (b, n, k)))

    def kept_ids(layer_a, layer_b, style_graph, content_graph, *, content_hw, **kw):
        nc = content_hw[0] * content_hw[1]
        return (style_graph.senders - nc).reshape(style_graph.senders.shape[0], *content_hw, -1)

    monkeypatch.setattr(gnn, "knn_windows", fake_knn)
    monkeypatch.setattr(gnn, "propagate_fast", kept_ids)
    fc, fs = jnp.zeros((1, 10, 10, 8)), jnp.zeros((1, 3, 3, 8))
    return {tau: np.stack([np.asarray(model.transfer(fc, fs, k=k, sample_tau=tau, seed=s)[0]).reshape(100, keep)
                           for s in seeds]) for tau in taus}


def test_seeded_edge_sampling_follows_softmax_ncc_over_tau(monkeypatch):
    """``sample_tau`` (README "k and diversity"): each content node keeps one of its k edges, drawn
    ``∝ exp(NCC / τ)``. Over 40 seeds × 100 content nodes (4000 independent draws) every edge's frequency is within
    5 binomial σ (``sqrt(p(1 − p)/n)``, plus 1/n) of ``softmax(NCC / τ)`` for τ = 0.1 and 0.5; with
    ``sample_keep = 2`` each edge's inclusion frequency matches the draw without replacement (Plackett–Luce:
    ``p_j + Σ_{i≠j} p_i p_j / (1 − p_i)``). The same seed gives the same draw, another seed another one."""
    seeds = range(40)
    draws = _sampled_ids(monkeypatch, (0.1, 0.5), seeds)
    n = 100 * len(seeds)
    for tau, ids in draws.items():
        p = softmax(SAMPLE_SCORE / tau)
        freq = np.array([np.mean(ids == j) for j in SAMPLE_IDS])
        assert freq.sum() == pytest.approx(1.0)  # only the k candidates are ever drawn
        bound = 5 * np.sqrt(p * (1 - p) / n) + 1.0 / n
        assert np.all(np.abs(freq - p) <= bound), (tau, freq, p, bound)
    assert not np.array_equal(draws[0.5][0], draws[0.5][1])  # another seed, another draw
    again = _sampled_ids(monkeypatch, (0.5,), [0, 1])[0.5]
    np.testing.assert_array_equal(again, draws[0.5][:2])  # the same seed, the same draw
    # keep 2 of the 4 edges: inclusion probabilities of a draw without replacement
    pairs = _sampled_ids(monkeypatch, (0.5,), range(20), keep=2)[0.5]
    n2 = 100 * 20
    p = softmax(SAMPLE_SCORE / 0.5)
    incl = p + np.array([sum(p[i] * p[j] / (1 - p[i]) for i in range(4) if i != j) for j in range(4)])
    freq = np.array([np.mean(np.any(pairs == j, axis=-1)) for j in SAMPLE_IDS])
    assert np.all(pairs[..., 0] != pairs[..., 1])  # without replacement
    assert np.all(np.abs(freq - incl) <= 5 * np.sqrt(incl * (1 - incl) / n2) + 1.0 / n2), (freq, incl)
