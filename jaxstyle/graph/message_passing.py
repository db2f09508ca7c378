"""Heterogeneous message passing over the patch graph (spec §5–§6): layer A (style → content), layer B
(content ↔ content, with self-loops), then Patch2Feat.

Two implementations of the same layers, which agree (tests):

* :func:`propagate_fast` — the hot path. It takes the GraphsTuples built by :mod:`jaxstyle.graph.graphs` and uses
  their layout (receivers sorted, exactly k edges each, nodes in row-major grid order) to work on ``[N_c, k]``
  index arrays and on feature *maps*: patch vectors are never materialised. Attention logits of whole patches are
  p×p convolutions of the projected maps; messages are accumulated window offset by window offset (p² gathers of
  C-vectors per edge) and folded onto the output canvas by shifted adds, so memory is ``O(N·C)``, never
  ``O(N·k·C·p²)``. Small graphs (``dense_max``) replace the gathers by a dense per-head adjacency matmul, whose
  gradient avoids scatter-adds.
* :func:`propagate_general` — written with jraph segment ops over explicit ``senders``/``receivers`` and
  materialised patch vectors (``nodes["patches"]``); it handles any graph (variable degree, any order).

Aggregators (``aggregator=``): ``gat`` (default: GAT additive attention plus a learnable NCC edge term), ``gcn``,
``gin``, ``edgeconv``, ``sage`` (the paper's ablation), and the parameter-free baselines ``mean_topk`` (uniform
average of the k neighbours) and ``hard_nn`` (the best neighbour only; layer B then averages uniformly).

``attention="gatv2"`` scores each edge as ``a·LeakyReLU(W_q x_i + W_s z_j) (+ γ·NCC)``. In additive GAT the
receiver term ``a_q·W_q x_i`` is the same for all of a node's edges, so it cancels in the softmax wherever those
logits sit on one side of the LeakyReLU (with γ·NCC ≫ 0 that is almost everywhere): ``a_q`` and ``W_q`` then
get (nearly) no gradient. GATv2 makes the ranking query-dependent at the cost of one more pass over the offsets.
"""

from __future__ import annotations

from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxstyle.graph import jraph_compat as jc
from jaxstyle.graph.deform import mixed_style_nodes, scale_maps
from jaxstyle.ops.patches import patch2feat

AGGREGATORS = ("gat", "gcn", "gin", "edgeconv", "sage", "mean_topk", "hard_nn")
_HIGHEST = jax.lax.Precision.HIGHEST


class GraphLayer(nnx.Module):
    """Parameters of one relation (layer A: style→content, or layer B: content↔content).

    Linear maps act per position inside a patch (a 1×1 conv before Feat2Patch), so each is ``C×C``, not ``D×D``.
    Initialisation makes the untrained layer a soft Style-Swap: identity projections, attention vectors
    ``~ N(0, att_std²)`` and NCC bias ``γ = gamma_init`` per head.
    """

    def __init__(self, channels: int, patch_size: int, heads: int, aggregator: str = "gat", *, rngs: nnx.Rngs,
                 gamma_init: float = 10.0, att_std: float = 0.01, ncc_edge_bias: bool = True,
                 leaky_slope: float = 0.2, tied: bool = False, attention: str = "gat"):
        if aggregator not in AGGREGATORS:
            raise ValueError(f"aggregator={aggregator!r}: choose one of {', '.join(AGGREGATORS)}")
        if attention not in ("gat", "gatv2"):
            raise ValueError(f"attention={attention!r}: use 'gat' (additive) or 'gatv2'")
        if channels % heads:
            raise ValueError(f"heads={heads} must divide the feature channels ({channels})")
        self.aggregator, self.heads, self.patch_size = aggregator, heads, patch_size
        self.ncc_edge_bias, self.leaky_slope, self.tied = ncc_edge_bias, leaky_slope, tied
        self.attention = attention
        self.dtype = None  # compute dtype of the projections and the aggregation (jaxstyle.nn.precision)
        eye = jnp.eye(channels, dtype=jnp.float32)
        p2 = patch_size * patch_size
        if aggregator in ("mean_topk", "hard_nn"):
            return
        self.proj_s = nnx.Param(eye)
        if aggregator == "gat":
            if not tied:
                self.proj_q = nnx.Param(eye)
            if attention == "gat":  # additive: a_q·q_i + a_s·z_j
                self.att_q = nnx.Param(att_std * jax.random.normal(rngs.params(), (p2, channels)))
            self.att_s = nnx.Param(att_std * jax.random.normal(rngs.params(), (p2, channels)))  # gatv2: the one a
            self.gamma = nnx.Param(jnp.full((heads,), gamma_init, jnp.float32))
        if aggregator == "sage":
            self.self_w = nnx.Param(jnp.zeros((channels, channels), jnp.float32))
        if aggregator == "gin":
            self.self_w = nnx.Param(eye)
            self.eps = nnx.Param(jnp.zeros((), jnp.float32))
        if aggregator in ("gin", "edgeconv"):
            w1 = jnp.concatenate([eye, eye], 0) if aggregator == "edgeconv" else eye  # [x_i, v_j − x_i] -> v_j
            self.mlp_w1, self.mlp_b1 = nnx.Param(w1), nnx.Param(jnp.zeros((channels,), jnp.float32))
            self.mlp_w2, self.mlp_b2 = nnx.Param(eye), nnx.Param(jnp.zeros((channels,), jnp.float32))

    # -- pieces shared by both implementations ------------------------------------------------------------------
    def matmul(self, x: jax.Array, w: jax.Array) -> jax.Array:
        """``x @ w`` in the compute dtype (its result too, so the backward pass's matmuls run in it as well)."""
        if self.dtype is None:
            return x @ w
        return x.astype(self.dtype) @ w.astype(self.dtype)

    def project_s(self, x: jax.Array) -> jax.Array:
        return x if self.aggregator in ("mean_topk", "hard_nn") else self.matmul(x, self.proj_s[...])

    def project_q(self, x: jax.Array) -> jax.Array:
        return self.matmul(x, (self.proj_s if self.tied else self.proj_q)[...])

    def att_vectors(self) -> tuple[jax.Array, jax.Array]:
        return self.att_q[...], self.att_s[...]

    @property
    def v2(self) -> bool:
        return self.aggregator == "gat" and self.attention == "gatv2"

    def pair_term(self, q: jax.Array, z: jax.Array, o=None) -> jax.Array:
        """GATv2 ``a·LeakyReLU(q + z)`` per head; ``q, z [..., P or 1, C]`` (``o``: the single offset given)."""
        a = self.att_s[...] if o is None else self.att_s[o][None]
        t = jax.nn.leaky_relu(q + z, self.leaky_slope) * a
        return t.reshape(*t.shape[:-2], t.shape[-2], self.heads, -1).sum((-3, -1))

    def logits(self, terms: jax.Array, ncc: jax.Array) -> jax.Array:
        """Edge logits per head from ``terms [..., H]``: additive GAT ``LeakyReLU(a_q·q + a_s·z + γ·NCC)``
        (``terms = a_q·q + a_s·z``); GATv2 ``a·LeakyReLU(q + z) + γ·NCC`` (``terms`` = the pair term)."""
        e = terms + (self.gamma[...] * ncc[..., None] if self.ncc_edge_bias else 0.0)
        return e if self.v2 else jax.nn.leaky_relu(e, self.leaky_slope)

    def mlp(self, x: jax.Array) -> jax.Array:
        return jax.nn.relu(x @ self.mlp_w1[...] + self.mlp_b1[...]) @ self.mlp_w2[...] + self.mlp_b2[...]


# ---------------------------------------------------------------------------------------------------------------
# Edge reductions: dense [N, k] layout vs. jraph segments.


class _Dense:
    """Edges as ``[N, k, ...]`` (receiver-sorted, exactly k per receiver)."""

    def softmax(self, e):
        return jax.nn.softmax(e, axis=1)

    def degree(self, like):
        return jnp.full(like.shape[:2], like.shape[1], jnp.float32)


class _Segment:
    """Edges as flat ``[E, ...]`` arrays with explicit receivers (any graph)."""

    def __init__(self, receivers: jax.Array, n: int):
        self.r, self.n = receivers, n

    def to_edges(self, x):
        return x[self.r]

    def sum(self, v):
        return jc.segment_sum(v, self.r, self.n)

    def max(self, v):
        return jc.segment_max(v, self.r, self.n)

    def softmax(self, e):
        return jc.segment_softmax(e, self.r, self.n)

    def degree(self, like):
        return jc.segment_sum(jnp.ones(like.shape[:1], jnp.float32), self.r, self.n)[self.r]


def _weigh(w: jax.Array, v: jax.Array, heads: int) -> jax.Array:
    """Per-head edge weights ``w [..., H]`` times values ``v [..., P, C]`` (head h scales channel block h)."""
    shape = v.shape
    v = v.reshape(*shape[:-1], heads, shape[-1] // heads)
    return (v * w[..., None, :, None]).reshape(shape)


def _edge_weights(layer: GraphLayer, ops, terms, ncc, send_deg, best_first) -> jax.Array | None:
    """Per-edge, per-head weights for the weighted-sum aggregators (``None`` for sage/gin/edgeconv).

    ``terms [E.., H]``: the attention terms of every edge (gat / gatv2, see :meth:`GraphLayer.logits`)."""
    agg = layer.aggregator
    if agg == "gat":
        return ops.softmax(layer.logits(terms, ncc))
    if agg == "mean_topk":
        return jnp.broadcast_to((1.0 / ops.degree(ncc))[..., None], (*ncc.shape, layer.heads))
    if agg == "hard_nn":
        return jnp.broadcast_to(best_first[..., None], (*ncc.shape, layer.heads)).astype(jnp.float32)
    if agg == "gcn":
        w = jax.lax.rsqrt(ops.degree(ncc) * send_deg)
        return jnp.broadcast_to(w[..., None], (*ncc.shape, layer.heads))
    return None


def _with_self(layer: GraphLayer, acc: jax.Array, x_self) -> jax.Array:
    """Add sage's / gin's receiver term to the aggregated neighbours ``acc`` (sage: already the mean)."""
    if layer.aggregator == "sage":
        return x_self @ layer.self_w[...] + acc
    if layer.aggregator == "gin":
        return layer.mlp((1.0 + layer.eps[...]) * (x_self @ layer.self_w[...]) + acc)
    return acc


def _combine_segment(layer: GraphLayer, ops: _Segment, w, values, x_self) -> jax.Array:
    """Aggregate edge values ``[E.., P, C]`` into receivers; ``x_self [N, P, C]`` is the receiver's own patch."""
    agg = layer.aggregator
    if w is not None:
        return ops.sum(_weigh(w, values, layer.heads))
    if agg == "sage":
        return _with_self(layer, ops.sum(values / ops.degree(values[..., 0, 0])[..., None, None]), x_self)
    if agg == "gin":
        return _with_self(layer, ops.sum(values), x_self)
    xe = jnp.broadcast_to(ops.to_edges(x_self), values.shape)  # edgeconv
    return ops.max(layer.mlp(jnp.concatenate([xe, values - xe], axis=-1)))


# ---------------------------------------------------------------------------------------------------------------
# Fast path.


def fold_or_raise(fold_size: int | None, patch_size: int) -> int:
    """The Patch2Feat fold (``None`` or 0: ``patch_size``, the spec); ``ValueError`` unless odd in 1..patch_size."""
    fold = int(fold_size or patch_size)
    if fold < 1 or fold > patch_size or fold % 2 == 0:
        raise ValueError(f"fold_size={fold_size}: use an odd size in 1..patch_size={patch_size} (0 = patch_size)")
    return fold


def _fold_offsets(p: int, fold: int) -> np.ndarray:
    """The window offsets ``o = oy·p + ox`` of the central ``fold × fold`` taps of a p×p window."""
    d = (p - fold) // 2
    t = np.arange(d, d + fold)
    return (t[:, None] * p + t[None, :]).reshape(-1).astype(np.int32)


def _fold_counts(h: int, w: int, p: int, fold: int) -> np.ndarray:
    r, d = p // 2, (p - fold) // 2

    def count(n):
        u = np.arange(n)[:, None] - (np.arange(d, d + fold) - r)[None, :]
        return ((u >= 0) & (u < n)).sum(1)

    return (count(h)[:, None] * count(w)[None, :]).astype(np.float32)[..., None]


def _head_conv(x: jax.Array, att: jax.Array, p: int, heads: int, dilation: int = 1) -> jax.Array:
    """Per-head dot of ``att [p², C]`` with every p×p window (taps ``dilation`` apart) of ``x [h, w, C]`` → [h, w, H].

    Windows are reflect-padded like the nodes, so this equals ``att·patch`` for every node.
    """
    c = x.shape[-1]
    r = (p // 2) * dilation
    # A dense [p, p, C, H] kernel, block-diagonal over heads, rather than a grouped conv: XLA CPU differentiates
    # grouped convolutions very slowly, and with H outputs the zero blocks cost little.
    k = jnp.einsum("yxhc,hg->yxhcg", att.reshape(p, p, heads, c // heads), jnp.eye(heads, dtype=att.dtype))
    xp = jnp.pad(x.astype(jnp.float32), ((r, r), (r, r), (0, 0)), mode="reflect")[None]  # attention logits: float32
    return jax.lax.conv_general_dilated(xp, k.reshape(p, p, c, heads), (1, 1), "VALID",
                                        rhs_dilation=(dilation, dilation),
                                        dimension_numbers=("NHWC", "HWIO", "NHWC"), precision=_HIGHEST)[0]


def _chunked(fn: Callable[[jax.Array], jax.Array], n: int, chunk: int) -> jax.Array:
    """``fn(ids)`` for node ids ``0..n-1`` in chunks of ``chunk`` (bounds memory), concatenated → ``[n, ...]``."""
    if n <= chunk:
        return fn(jnp.arange(n))
    n_chunks = -(-n // chunk)
    ids = jnp.minimum(jnp.arange(n_chunks * chunk), n - 1).reshape(n_chunks, chunk)
    out = jax.lax.map(fn, ids)
    return out.reshape(n_chunks * chunk, *out.shape[2:])[:n]


def _take(x: jax.Array, ids: jax.Array) -> jax.Array:
    """Row gather ``x[ids]`` (indices are in bounds by construction; "clip" lets XLA CPU emit a fast copy loop)."""
    return jnp.take(x, ids, axis=0, mode="clip")


def _combine_dense(layer: GraphLayer, w, value: Callable[[int], jax.Array], x_self, k: int) -> jax.Array:
    """Dense counterpart of :func:`_combine_segment`, one neighbour column at a time (2-D gathers are much faster on CPU).

    ``w [n, k, H]`` or None; ``value(t) -> [n, C]`` is neighbour column t; ``x_self [n, C]``.
    """
    agg = layer.aggregator
    if agg == "edgeconv":
        out = None
        for t in range(k):
            v = value(t)
            m = layer.mlp(jnp.concatenate([x_self, v - x_self], axis=-1))
            out = m if out is None else jnp.maximum(out, m)
        return out
    acc = 0.0
    for t in range(k):
        v = value(t)
        acc = acc + (v if w is None else v * jnp.repeat(w[:, t], v.shape[-1] // layer.heads, axis=-1))
    return _with_self(layer, acc / k if agg == "sage" else acc, x_self)


def _dense_ok(layer: GraphLayer, n_recv: int, n_send: int, dense_max: int) -> bool:
    """Whether a relation is small enough for the dense-adjacency form (and its aggregator is linear in values)."""
    return layer.aggregator != "edgeconv" and n_recv * n_send <= dense_max


def _adjacency(layer: GraphLayer, w, nbr: jax.Array, n_send: int) -> jax.Array:
    """Edge weights as a dense per-head adjacency ``[H, N_recv, N_send]`` (``w [N, k, H]``; ``None``: sage's 1/k,
    gin's 1). Repeated senders add up, as the per-edge sum does."""
    if w is None:
        k = nbr.shape[1]
        w = jnp.full((*nbr.shape, layer.heads), 1.0 / k if layer.aggregator == "sage" else 1.0, jnp.float32)
    return jnp.einsum("nkh,nks->hns", w, jax.nn.one_hot(nbr, n_send, dtype=jnp.float32), precision=_HIGHEST)


def _apply_adjacency(layer: GraphLayer, adj: jax.Array, values: jax.Array, x_self) -> jax.Array:
    """``adj [H, N, M]`` times ``values [M, C]`` (head h weighs channel block h) → ``[N, C]``, plus sage's / gin's
    self term (``x_self [N, C]``); equals :func:`_combine_dense` over the same edges."""
    m, c = values.shape
    values = values.reshape(m, layer.heads, c // layer.heads)
    if layer.dtype is None:
        acc = jnp.einsum("hnm,mhc->nhc", adj, values, precision=_HIGHEST)
    else:
        acc = jnp.einsum("hnm,mhc->nhc", adj.astype(layer.dtype), values.astype(layer.dtype)).astype(jnp.float32)
    acc = acc.reshape(-1, c)
    return _with_self(layer, acc, x_self)


def _fast_single(layer_a: GraphLayer, layer_b: GraphLayer | None, fc, s_maps, pi, idx, ncc, cidx, cncc, *,
                 p: int, scales: Sequence[int], chunk: int, dense_max: int = 0, fold: int | None = None) -> jax.Array:
    """One example. fc [h,w,C]; s_maps [S,hs,ws,C]; pi [Ns,S]; idx/ncc [Nc,k]; cidx/cncc [Nc,kc] → F_agg [h,w,C].

    Relations with ``N_recv·N_send <= dense_max`` aggregate through a dense ``[H, N_recv, N_send]`` adjacency (one
    matmul per window offset) instead of per-edge gathers: the same numbers, and on small training graphs far
    faster to differentiate (a gather's gradient is a scatter-add, which XLA CPU runs serially)."""
    h, w, c = fc.shape
    hs, ws = s_maps.shape[1:3]
    nc, k = idx.shape
    r, heads = p // 2, layer_a.heads
    wcp = w + 2 * r
    ys, xs = jnp.divmod(jnp.arange(nc), w)
    ys_s, xs_s = jnp.divmod(jnp.arange(hs * ws), ws)

    # Layer A values: projected style map per scale, reflect-padded by r·σ and flattened.
    z_pad, z_flat, z_base, z_width = [], [], [], []
    for si, s in enumerate(scales):
        zp = jnp.pad(layer_a.project_s(s_maps[si]), ((r * s, r * s), (r * s, r * s), (0, 0)), mode="reflect")
        z_pad.append(zp)
        z_flat.append(zp.reshape(-1, c))
        z_width.append(ws + 2 * r * s)
        z_base.append((ys_s + r * s) * z_width[-1] + xs_s + r * s)
    fc_flat = jnp.pad(fc, ((r, r), (r, r), (0, 0)), mode="reflect").reshape(-1, c)
    c_base = (ys + r) * wcp + xs + r

    def style_value(o, jt):  # scale-mixed projected style patch of nodes jt at window offset o → [n, C]
        oy, ox = o // p - r, o % p - r
        return sum(_take(pi[:, si], jt)[:, None] * _take(z_flat[si], _take(z_base[si], jt)
                                                         + s * (oy * z_width[si] + ox))
                   for si, s in enumerate(scales))

    def style_values_all(o):  # style_value(o, every style node), as slices of the padded maps → [Ns, C]
        oy, ox = o // p - r, o % p - r
        return sum(pi[:, si:si + 1] * jax.lax.dynamic_slice(z_pad[si], (s * (r + oy), s * (r + ox), 0),
                                                             (hs, ws, c)).reshape(-1, c)
                   for si, s in enumerate(scales))

    def content_at(flat, o, ids):  # content-map patch of nodes ids at window offset o → [n, C]
        return _take(flat, _take(c_base, ids) + (o // p - r) * wcp + o % p - r)

    terms = send_deg = None
    if layer_a.v2:  # a·LeakyReLU(q_i + z_j) needs every edge at every offset: one extra pass
        q_flat = jnp.pad(layer_a.project_q(fc), ((r, r), (r, r), (0, 0)), mode="reflect").reshape(-1, c)

        def v2_terms(o, acc):
            def chunk_terms(ids):
                q, j = content_at(q_flat, o, ids)[:, None], _take(idx, ids)
                return jnp.stack([layer_a.pair_term(q, style_value(o, j[:, t])[:, None], o)
                                  for t in range(k)], axis=1)

            return acc + _chunked(chunk_terms, nc, chunk)

        terms = jax.lax.fori_loop(0, p * p, v2_terms, jnp.zeros((nc, k, heads), jnp.float32))
    elif layer_a.aggregator == "gat":
        att_q, att_s = layer_a.att_vectors()
        recv_q = _head_conv(layer_a.project_q(fc), att_q, p, heads).reshape(nc, 1, heads)
        send_s = sum(pi[:, si:si + 1] * _head_conv(layer_a.project_s(s_maps[si]), att_s, p, heads, s).reshape(-1, heads)
                     for si, s in enumerate(scales))
        terms = recv_q + send_s[idx]
    if layer_a.aggregator == "gcn":
        send_deg = jnp.zeros((hs * ws,), jnp.float32).at[idx.reshape(-1)].add(1.0)[idx]
    dense = _Dense()
    w_a = _edge_weights(layer_a, dense, terms, ncc, send_deg, jnp.arange(k)[None, :] == 0)
    x_self_needed = layer_a.aggregator in ("sage", "gin", "edgeconv")

    def msg_a(o, ids):  # layer-A output of nodes `ids` at window offset o → [len(ids), C]
        j = _take(idx, ids)
        x_self = content_at(fc_flat, o, ids) if x_self_needed else None
        return _combine_dense(layer_a, None if w_a is None else _take(w_a, ids), lambda t: style_value(o, j[:, t]),
                              x_self, k)

    if _dense_ok(layer_a, nc, hs * ws, dense_max):
        adj_a = _adjacency(layer_a, w_a, idx, hs * ws)

        def all_a(o):
            x_self = content_at(fc_flat, o, jnp.arange(nc)) if x_self_needed else None
            return _apply_adjacency(layer_a, adj_a, style_values_all(o), x_self)
    else:
        def all_a(o):
            return _chunked(lambda ids: msg_a(o, ids), nc, chunk)

    fold = p if fold is None else fold
    offsets = jnp.asarray(_fold_offsets(p, fold))
    counts = jnp.asarray(_fold_counts(h, w, p, fold))
    canvas0 = jnp.zeros((h + 2 * r, wcp, c), jnp.float32)

    def fold_loop(body):  # body(o, canvas) over the folded window offsets
        return jax.lax.fori_loop(0, fold * fold, lambda j, cv: body(offsets[j], cv), canvas0)

    if layer_b is None:
        canvas = fold_loop(lambda o, cv: _shift_add(cv, all_a(o).reshape(h, w, c), o, p))
        return canvas[r:r + h, r:r + w] / counts

    # Layer B over content neighbours + self-loop.
    nbr = jnp.concatenate([cidx, jnp.arange(nc)[:, None]], axis=1)
    kb = nbr.shape[1]
    nbr_ncc = jnp.concatenate([cncc, jnp.ones((nc, 1), cncc.dtype)], axis=1)
    terms_b = send_deg_b = None
    if layer_b.aggregator == "gat":
        bq, bs = (None, None) if layer_b.v2 else layer_b.att_vectors()

        def b_terms(o, acc):
            ma = all_a(o)
            us = layer_b.project_s(ma)
            uq = us if layer_b.tied else layer_b.project_q(ma)
            if layer_b.v2:
                return acc + _chunked(lambda ids: jnp.stack(
                    [layer_b.pair_term(_take(uq, ids)[:, None], _take(us, _take(nbr, ids)[:, t])[:, None], o)
                     for t in range(kb)], axis=1), nc, chunk)
            tq = jnp.einsum("nhc,hc->nh", uq.reshape(nc, heads, -1), bq[o].reshape(heads, -1), precision=_HIGHEST)
            ts = jnp.einsum("nhc,hc->nh", us.reshape(nc, heads, -1), bs[o].reshape(heads, -1), precision=_HIGHEST)
            return acc + tq[:, None] + ts[nbr]  # additive: a_q·u_i + a_s·u_l

        terms_b = jax.lax.fori_loop(0, p * p, b_terms, jnp.zeros((nc, kb, heads), jnp.float32))
    if layer_b.aggregator == "gcn":
        send_deg_b = jnp.zeros((nc,), jnp.float32).at[nbr.reshape(-1)].add(1.0)[nbr]
    w_b = _edge_weights(layer_b, dense, terms_b, nbr_ncc, send_deg_b, None)
    adj_b = _adjacency(layer_b, w_b, nbr, nc) if _dense_ok(layer_b, nc, nc, dense_max) else None

    def fold_b(o, canvas):
        ma = all_a(o)
        um = layer_b.project_s(ma)

        def msg_b(ids):
            l = _take(nbr, ids)
            return _combine_dense(layer_b, None if w_b is None else _take(w_b, ids),
                                  lambda t: _take(um, l[:, t]), _take(ma, ids), kb)

        out = _chunked(msg_b, nc, chunk) if adj_b is None else _apply_adjacency(layer_b, adj_b, um, ma)
        return _shift_add(canvas, out.reshape(h, w, c), o, p)

    canvas = fold_loop(fold_b)
    return canvas[r:r + h, r:r + w] / counts


def _shift_add(canvas: jax.Array, z: jax.Array, o, p: int) -> jax.Array:
    """Add node outputs ``z [h, w, C]`` for window offset ``o`` at their covered locations of the padded canvas."""
    h, w, c = z.shape
    oy, ox = o // p, o % p
    cur = jax.lax.dynamic_slice(canvas, (oy, ox, 0), (h, w, c))
    return jax.lax.dynamic_update_slice(canvas, cur + z, (oy, ox, 0))


def propagate_fast(layer_a: GraphLayer, layer_b: GraphLayer | None, style_graph: jc.GraphsTuple,
                   content_graph: jc.GraphsTuple | None, *, content_hw: tuple[int, int], style_hw: tuple[int, int],
                   patch_size: int, scales: Sequence[int], chunk: int = 4096, dense_max: int = 0,
                   fold_size: int | None = None) -> jax.Array:
    """Layer A (+ layer B) + Patch2Feat on batched grid graphs from :func:`jaxstyle.graph.graphs.build_graph`.

    Args:
      layer_a, layer_b: the relations' parameters (``layer_b=None``: no content↔content layer).
      style_graph: batched style→content GraphsTuple (``nodes["feat"] [B, N_c+N_s, C]``, ``nodes["scale_probs"]``,
        receivers sorted with exactly k edges each).
      content_graph: batched content↔content GraphsTuple (required when ``layer_b`` is given).
      content_hw, style_hw: the feature grids (static).
      chunk: content nodes gathered at once (bounds memory at large sizes).
      dense_max: a relation with ``N_recv·N_send <= dense_max`` (per example) aggregates through a dense
        ``[H, N_recv, N_send]`` adjacency instead of per-edge gathers: identical results, much faster gradients
        on small (training-size) graphs; 0 = always gather. ``edgeconv`` (a max, not a sum) always gathers.
      fold_size: Patch2Feat averages only the central ``fold_size × fold_size`` taps of each node's output window
        (odd, ≤ ``patch_size``; ``None`` = all p², the spec): 1 gives each location its own node's centre tap,
        with no averaging across overlapping windows. Attention still reads the whole p×p window.

    Returns:
      ``F_agg [B, h, w, C]`` float32.
    """
    h, w = content_hw
    hs, ws = style_hw
    nc = h * w
    b = style_graph.n_node.shape[0]
    feat = style_graph.nodes["feat"].astype(jnp.float32)
    fc = feat[:, :nc].reshape(b, h, w, -1)
    fs = feat[:, nc:].reshape(b, hs, ws, -1)
    s_maps = scale_maps(fs, scales)
    pi = style_graph.nodes["scale_probs"][:, nc:]
    k = style_graph.receivers.shape[1] // nc
    idx = (style_graph.senders - nc).reshape(b, nc, k)
    ncc = style_graph.edges["ncc"].reshape(b, nc, k)
    if layer_b is not None:
        kc = content_graph.receivers.shape[1] // nc
        cidx = content_graph.senders.reshape(b, nc, kc)
        cncc = content_graph.edges["ncc"].reshape(b, nc, kc)
    else:
        cidx = jnp.zeros((b, nc, 0), jnp.int32)
        cncc = jnp.zeros((b, nc, 0), jnp.float32)
    fold = fold_or_raise(fold_size, patch_size)
    fn = lambda *a: _fast_single(layer_a, layer_b, *a, p=patch_size, scales=tuple(scales), chunk=chunk,  # noqa: E731
                                 dense_max=int(dense_max), fold=fold)
    return jax.vmap(fn)(fc, s_maps, pi, idx, ncc, cidx, cncc)


# ---------------------------------------------------------------------------------------------------------------
# General path (jraph segment ops, materialised patches, any graph).


def _to_pc(patches: jax.Array, p: int) -> jax.Array:
    """Node vectors ``[N, p²·C]`` → ``[N, p², C]``."""
    return patches.reshape(patches.shape[0], p * p, -1)


def node_patches(feat_map: jax.Array, scale_probs: jax.Array, scales: Sequence[int], patch_size: int) -> jax.Array:
    """Materialised (scale-mixed) node patches ``[N, p², C]`` of one ``[h, w, C]`` map; ``scale_probs [N, S]``."""
    return _to_pc(mixed_style_nodes(feat_map[None], scale_probs[None], scales, patch_size)[0], patch_size)


def _general_layer(layer: GraphLayer, recv_nodes, send_nodes, senders, receivers, ncc, n_recv: int,
                   best_first) -> jax.Array:
    """One relation on explicit edges. recv_nodes [N_r, P, C], send_nodes [N_s, P, C] → [N_r, P, C]."""
    ops = _Segment(receivers, n_recv)
    values = layer.project_s(send_nodes)[senders]  # [E, P, C]
    heads = layer.heads
    terms = send_deg = None
    if layer.v2:
        terms = layer.pair_term(layer.project_q(recv_nodes)[receivers], values)
    elif layer.aggregator == "gat":
        att_q, att_s = layer.att_vectors()
        q = (layer.project_q(recv_nodes) * att_q).reshape(*recv_nodes.shape[:2], heads, -1).sum((1, 3))
        s = (layer.project_s(send_nodes) * att_s).reshape(*send_nodes.shape[:2], heads, -1).sum((1, 3))
        terms = q[receivers] + s[senders]
    if layer.aggregator == "gcn":
        send_deg = jc.segment_sum(jnp.ones_like(ncc), senders, send_nodes.shape[0])[senders]
    w = _edge_weights(layer, ops, terms, ncc, send_deg, best_first)
    return _combine_segment(layer, ops, w, values, recv_nodes)


def propagate_general(layer_a: GraphLayer, layer_b: GraphLayer | None, style_graph: jc.GraphsTuple,
                      content_graph: jc.GraphsTuple | None, *, content_hw: tuple[int, int],
                      patch_size: int) -> jax.Array:
    """The same layers on one unbatched graph with explicit edges and ``nodes["patches"] [N, p², C]``.

    Edges may come in any order and any number per receiver. ``hard_nn`` takes, per receiver, the edge with the
    highest ``ncc``. Returns ``F_agg [h, w, C]``.
    """
    h, w = content_hw
    nc = h * w
    patches = style_graph.nodes["patches"].astype(jnp.float32)
    recv_a = style_graph.receivers
    ncc_a = style_graph.edges["ncc"]
    best_a = ncc_a >= jc.segment_max(ncc_a, recv_a, nc)[recv_a]
    # ties: exactly one edge per receiver, the lowest style id (lax.top_k, hence the fast path, puts it first)
    snd_a = style_graph.senders
    best_a &= snd_a == -jc.segment_max(jnp.where(best_a, -snd_a, -jnp.iinfo(snd_a.dtype).max), recv_a, nc)[recv_a]
    m = _general_layer(layer_a, patches[:nc], patches[nc:], style_graph.senders - nc, recv_a, ncc_a, nc, best_a)
    if layer_b is not None:
        self_ids = jnp.arange(nc, dtype=content_graph.senders.dtype)
        senders = jnp.concatenate([content_graph.senders, self_ids])
        receivers = jnp.concatenate([content_graph.receivers, self_ids])
        ncc_b = jnp.concatenate([content_graph.edges["ncc"], jnp.ones((nc,), jnp.float32)])
        m = _general_layer(layer_b, m, m, senders, receivers, ncc_b, nc, None)
    c = m.shape[-1]
    return patch2feat(m.reshape(1, nc, c * patch_size * patch_size), (h, w), patch_size)[0]
