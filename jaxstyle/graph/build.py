"""Edge building: exact top-k neighbours by patch similarity, computed in row blocks (pure, jittable).

Similarities between node vectors ``x`` (content) and ``y`` (candidates), each of length ``D = C·p²``:

* ``"ncc"`` (default): normalised cross-correlation. Each vector is centred by its own mean over its D entries;
  ``NCC = <x̃, ỹ> / ((|x̃| + eps)(|ỹ| + eps))``, ``eps = 1e-8``, in [−1, 1];
* ``"cosine"``: the same without centring (Style-Swap's measure);
* ``"euclidean"``: ``−|x − y|²``.

Content patches are cut block by block (a strip of node rows at a time) and the ``[block, N_s]`` score block is
reduced to its top-k at once, so memory holds one block, never the full ``N_c × N_s`` matrix.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxstyle.ops.patches import _extract, check_patch_grid, pad_for_patches

SIMILARITIES = ("ncc", "cosine", "euclidean")
EPS = 1e-8
_HIGHEST = jax.lax.Precision.HIGHEST


def _check(similarity: str, k: int, n_candidates: int, block_size: int) -> None:
    if similarity not in SIMILARITIES:
        raise ValueError(f"similarity={similarity!r}: choose one of {', '.join(SIMILARITIES)}")
    if not 1 <= k <= n_candidates:
        raise ValueError(f"k={k}: must be between 1 and the number of candidate nodes ({n_candidates})")
    if block_size < 1:
        raise ValueError(f"block_size={block_size}: must be >= 1")


def prepare(x: jax.Array, similarity: str) -> tuple[jax.Array, jax.Array | None]:
    """Normalise node vectors ``[..., D]`` for ``similarity``; returns ``(vectors, squared_norms or None)``."""
    x = x.astype(jnp.float32)
    if similarity == "euclidean":
        return x, jnp.sum(x * x, axis=-1)
    if similarity == "ncc":
        x = x - jnp.mean(x, axis=-1, keepdims=True)
    return x / (jnp.linalg.norm(x, axis=-1, keepdims=True) + EPS), None


def scores(xq: jax.Array, xc: jax.Array, similarity: str, *, precision=_HIGHEST) -> jax.Array:
    """``[B, M, D] × [B, N, D] -> [B, M, N]`` similarities of raw node vectors (brute force; small inputs)."""
    (q, qn), (c, cn) = prepare(xq, similarity), prepare(xc, similarity)
    s = jnp.einsum("bmd,bnd->bmn", q, c, precision=precision)
    return 2 * s - qn[..., None] - cn[:, None, :] if similarity == "euclidean" else s


def knn_from_nodes(content_feat: jax.Array, candidates: jax.Array, *, k: int, patch_size: int = 5, stride: int = 1,
                   similarity: str = "ncc", block_size: int = 1024, exclude_self: bool = False,
                   padding: str = "reflect", precision=_HIGHEST) -> tuple[jax.Array, jax.Array]:
    """Top-k candidate nodes for every content node, content patches cut block by block.

    Args:
      content_feat: ``[B, h, w, C]``; its nodes are the ``p×p`` windows at ``stride`` (see ``ops.patches``).
      candidates: ``[B, N, C·p²]`` candidate node vectors (e.g. style patches, possibly scale-mixed).
      k: neighbours per content node (static).
      exclude_self: candidates are the content's own nodes (same stride): never pick node ``i`` for node ``i``.
      block_size: content nodes per block (rounded to whole rows of the node grid).

    Returns:
      ``(idx [B, N_c, k] int32, score [B, N_c, k] float32)``, scores sorted descending.
    """
    b, h, w, c = content_feat.shape
    n = candidates.shape[1]
    _check(similarity, k, n - int(exclude_self), block_size)
    check_patch_grid((h, w), patch_size, 1, padding, "content feature map")
    if candidates.shape[-1] != c * patch_size * patch_size:
        raise ValueError(f"candidate vectors have size {candidates.shape[-1]}, expected C·p² = "
                         f"{c * patch_size * patch_size}")
    hn, wn = -(-h // stride), -(-w // stride)
    rows = max(1, min(hn, block_size // wn))
    n_blocks = -(-hn // rows)
    cand, cand_sq = prepare(candidates, similarity)
    padded = pad_for_patches(content_feat.astype(jnp.float32), patch_size, 1, padding)
    strip_h = (rows - 1) * stride + patch_size
    extra = (n_blocks * rows - 1) * stride + patch_size - padded.shape[1]
    if extra > 0:  # rows of the last block past the grid: computed, then dropped
        padded = jnp.pad(padded, ((0, 0), (0, extra), (0, 0), (0, 0)))

    def block(i):
        strip = jax.lax.dynamic_slice_in_dim(padded, i * rows * stride, strip_h, axis=1)
        q = _extract(strip, patch_size, stride, 1)[:, :, :wn].reshape(b, rows * wn, -1)
        q, q_sq = prepare(q, similarity)
        s = jnp.einsum("bmd,bnd->bmn", q, cand, precision=precision)
        if similarity == "euclidean":
            s = 2 * s - q_sq[..., None] - cand_sq[:, None, :]
        if exclude_self:
            own = i * rows * wn + jnp.arange(rows * wn)
            s = jnp.where(own[:, None] == jnp.arange(n)[None, :], -jnp.inf, s)
        return jax.lax.top_k(s, k)

    vals, idx = jax.lax.map(block, jnp.arange(n_blocks))  # [n_blocks, B, rows·wn, k]
    vals = jnp.moveaxis(vals, 0, 1).reshape(b, -1, k)[:, : hn * wn]
    idx = jnp.moveaxis(idx, 0, 1).reshape(b, -1, k)[:, : hn * wn]
    return idx.astype(jnp.int32), vals


def _window_stats(maps: list[jax.Array], weights: jax.Array | None, dilations: tuple[int, ...], patch_size: int,
                  stride: int, grid: tuple[int, int]) -> tuple[jax.Array, jax.Array]:
    """Entry sum and squared norm ``([B, n], [B, n])`` of every (weight-mixed) window node, tap by tap: node
    ``(y, x)`` has tap ``(dy, dx)`` = ``Σ_σ w[y, x, σ] · maps[σ][y·stride + σ·dy, x·stride + σ·dx]`` (``maps``
    already padded). Memory ``O(n·C)``: no node vector is materialised."""
    hn, wn = grid
    b, c = maps[0].shape[0], maps[0].shape[-1]
    total = jnp.zeros((b, hn, wn), jnp.float32)
    sq = jnp.zeros((b, hn, wn), jnp.float32)
    if weights is None and len(maps) == 1:  # reduce over channels first: taps of [B, H, W] maps (a content-sized
        # map's p² channel-deep slices would each be materialised by XLA on the CPU: 13 GB at 4096² content)
        m, d = maps[0], dilations[0]
        per_pos = (m.sum(-1), (m * m).sum(-1))
        for dy in range(patch_size):
            for dx in range(patch_size):
                t0, t1 = (jax.lax.slice(v, (0, d * dy, d * dx), (b, d * dy + (hn - 1) * stride + 1,
                                                                 d * dx + (wn - 1) * stride + 1), (1, stride, stride))
                          for v in per_pos)
                total, sq = total + t0, sq + t1
        return total.reshape(b, -1), sq.reshape(b, -1)
    for dy in range(patch_size):
        for dx in range(patch_size):
            tap = 0.0
            for si, (m, d) in enumerate(zip(maps, dilations)):
                t = jax.lax.slice(m, (0, d * dy, d * dx, 0), (b, d * dy + (hn - 1) * stride + 1,
                                                                 d * dx + (wn - 1) * stride + 1, c), (1, stride, stride, 1))
                tap = tap + (t if weights is None else weights[..., si, None] * t)
            total, sq = total + tap.sum(-1), sq + (tap * tap).sum(-1)
    return total.reshape(b, -1), sq.reshape(b, -1)


def _gram_blocks(hn: int, wn: int, block_size: int, patch_size: int, stride: int) -> tuple[int, int, int]:
    """``(node rows per block, blocks, padded feature rows per block)`` of :func:`knn_windows`."""
    rows = max(1, min(hn, max(block_size // wn, 2 * (patch_size - 1))))
    return rows, -(-hn // rows), (rows - 1) * stride + patch_size


def knn_windows_flops(content_hw: tuple[int, int], candidate_hw: tuple[int, int], channels: int, *,
                      patch_size: int = 5, dilations: tuple[int, ...] = (1,), block_size: int = 1024) -> float:
    """FLOPs (2 × multiply-adds) of the Grams of :func:`knn_windows` at stride 1, halo rows included."""
    (h, w), (hs, ws), r = content_hw, candidate_hw, patch_size // 2
    _, n_blocks, strip_h = _gram_blocks(h, w, block_size, patch_size, 1)
    return sum(2.0 * channels * n_blocks * strip_h * (w + 2 * r) * (hs + 2 * r * d) * (ws + 2 * r * d)
               for d in dilations)


def knn_windows(content_feat: jax.Array, candidate_maps: jax.Array, *, k: int, patch_size: int = 5,
                stride: int = 1, candidate_stride: int = 1, dilations: tuple[int, ...] = (1,),
                weights: jax.Array | None = None, similarity: str = "ncc", block_size: int = 1024,
                exclude_self: bool = False, padding: str = "reflect", precision=_HIGHEST,
                ) -> tuple[jax.Array, jax.Array]:
    """Exact top-k candidate windows for every content window, from feature Grams (no patch vectors).

    A window dot product is a sum of per-tap feature dot products, so with ``G = F_c · F_σᵀ`` over the padded
    grids, ``<q_i, x_j> = Σ_taps G[i + δ, j + σδ]``: one ``C``-deep Gram per scale and ``2p`` shifted adds
    replace the ``C·p²``-deep product of cut patches (p = 5, three scales: ~8× fewer FLOPs, and the candidate
    nodes ``[N_s, C·p²]`` are never built). Means and norms of the windows come from :func:`_window_stats`;
    NCC is centred algebraically (``<x̃,ỹ> = <x,y> − Σx·Σy / D``) after a global shift of each map that NCC
    ignores (it removes the cancellation). Same scores as :func:`knn_from_nodes` up to float32 rounding.

    Args:
      content_feat: ``[B, h, w, C]``; content nodes are its ``p×p`` windows at ``stride``.
      candidate_maps: ``[B, S, hs, ws, C]`` (or ``[B, hs, ws, C]``, S = 1); candidate ``j`` is
        ``Σ_σ weights[j, σ] · (window of map σ at j, taps dilations[σ] apart)``, at ``candidate_stride``.
      weights: ``[B, hs', ws', S]`` mixing weights per candidate (None: the single map). For NCC they must sum
        to 1 per candidate (scale probabilities do).
      exclude_self: candidates are the content's own nodes: never pick node ``i`` for node ``i``.
      block_size: content nodes per block: ``block_size // w'`` node rows, at least ``2(p − 1)`` so the window
        halo adds at most half to a block's Gram.

    Returns:
      ``(idx [B, N_c, k] int32, score [B, N_c, k] float32)``, scores sorted descending.
    """
    maps = candidate_maps if candidate_maps.ndim == 5 else candidate_maps[:, None]
    dilations = tuple(int(d) for d in dilations)
    b, h, w, c = content_feat.shape
    _, n_maps, hs, ws, cs = maps.shape
    if len(dilations) != n_maps or (weights is not None and weights.shape[-1] != n_maps):
        raise ValueError(f"{n_maps} candidate maps need as many dilations (got {dilations}) and mixing weights")
    if n_maps > 1 and weights is None:
        raise ValueError(f"{n_maps} candidate maps need mixing weights [B, hs, ws, {n_maps}]")
    if cs != c or maps.shape[0] != b:
        raise ValueError(f"content {tuple(content_feat.shape)} and candidate maps {tuple(maps.shape)} must share "
                         "batch size and channels")
    hn, wn = -(-h // stride), -(-w // stride)
    hns, wns = -(-hs // candidate_stride), -(-ws // candidate_stride)
    n = hns * wns
    _check(similarity, k, n - int(exclude_self), block_size)
    check_patch_grid((h, w), patch_size, 1, padding, "content feature map")
    for d in dilations:
        check_patch_grid((hs, ws), patch_size, d, padding, "candidate feature map")
    d_len = c * patch_size * patch_size
    center = similarity == "ncc"

    def shift(x):
        return jnp.mean(x.astype(jnp.float32), axis=(1, 2, 3), keepdims=True) if center else 0.0

    # NCC: one global constant per side is subtracted after padding; it moves every window (and every weight-mixed
    # window: the weights sum to 1) by a constant vector, which the centring removes, and it keeps the algebraic
    # centring below free of cancellation
    s_c, s_s = shift(content_feat), shift(maps[:, 0])
    cand = [pad_for_patches(maps[:, si].astype(jnp.float32), patch_size, d, padding) - s_s
            for si, d in enumerate(dilations)]
    cont = pad_for_patches(content_feat.astype(jnp.float32), patch_size, 1, padding) - s_c
    q_sum, q_sq = _window_stats([cont], None, (1,), patch_size, stride, (hn, wn))
    mix = None if weights is None else weights.astype(jnp.float32).reshape(b, hns, wns, n_maps)
    x_sum, x_sq = _window_stats(cand, mix, dilations, patch_size, candidate_stride, (hns, wns))
    if center:
        q_sq, x_sq = q_sq - q_sum ** 2 / d_len, x_sq - x_sum ** 2 / d_len
    q_norm, x_norm = jnp.sqrt(jnp.maximum(q_sq, 0.0)) + EPS, jnp.sqrt(jnp.maximum(x_sq, 0.0)) + EPS

    rows, n_blocks, strip_h = _gram_blocks(hn, wn, block_size, patch_size, stride)
    extra = (n_blocks * rows - 1) * stride + patch_size - cont.shape[1]
    if extra > 0:  # rows of the last block past the grid: computed, then dropped
        cont = jnp.pad(cont, ((0, 0), (0, extra), (0, 0), (0, 0)))
    pad_n = n_blocks * rows * wn - hn * wn
    q_stats = [jnp.pad(v, ((0, 0), (0, pad_n)), constant_values=1.0).reshape(b, n_blocks, rows * wn)
               for v in (q_sum, q_sq, q_norm)]
    t = candidate_stride

    def block(i):
        strip = jax.lax.dynamic_slice_in_dim(cont, i * rows * stride, strip_h, axis=1)
        wp = strip.shape[2]
        num = 0.0
        for si, (m, d) in enumerate(zip(cand, dilations)):
            hp, wq = m.shape[1:3]
            g = jnp.einsum("bxc,byc->bxy", strip.reshape(b, -1, c), m.reshape(b, -1, c), precision=precision)
            g = g.reshape(b, strip_h, wp, hp, wq)
            g = sum(g[:, :, dx:dx + (wn - 1) * stride + 1:stride, :, d * dx:d * dx + (wns - 1) * t + 1:t]
                    for dx in range(patch_size))  # [b, strip_h, wn, hp, wns]
            g = sum(g[:, dy:dy + (rows - 1) * stride + 1:stride, :, d * dy:d * dy + (hns - 1) * t + 1:t]
                    for dy in range(patch_size))  # [b, rows, wn, hns, wns]
            g = g.reshape(b, rows * wn, n)
            num = num + (g if mix is None else g * mix[..., si].reshape(b, 1, n))
        qs, qq, qn = (v[:, i] for v in q_stats)
        if similarity == "euclidean":
            s = 2 * num - qq[..., None] - x_sq[:, None, :]
        elif center:
            s = (num - qs[..., None] * x_sum[:, None, :] / d_len) / (qn[..., None] * x_norm[:, None, :])
        else:
            s = num / (qn[..., None] * x_norm[:, None, :])
        if exclude_self:
            own = i * rows * wn + jnp.arange(rows * wn)
            s = jnp.where(own[:, None] == jnp.arange(n)[None, :], -jnp.inf, s)
        return jax.lax.top_k(s, k)

    vals, idx = jax.lax.map(block, jnp.arange(n_blocks))  # [n_blocks, B, rows·wn, k]
    vals = jnp.moveaxis(vals, 0, 1).reshape(b, -1, k)[:, : hn * wn]
    idx = jnp.moveaxis(idx, 0, 1).reshape(b, -1, k)[:, : hn * wn]
    return idx.astype(jnp.int32), vals


def knn_edges(content_feat: jax.Array, style_feat: jax.Array, *, k: int, patch_size: int = 5, stride: int = 1,
              similarity: str = "ncc", block_size: int = 1024, padding: str = "reflect",
              precision=_HIGHEST) -> tuple[jax.Array, jax.Array]:
    """Style→content edges: the k most similar style patches of every content patch.

    Args:
      content_feat: ``[B, h, w, C]``; content nodes at ``stride``.
      style_feat: ``[B, hs, ws, C]``; style nodes at every location (stride 1).
      k: edges per content node (static; ``1 <= k <= hs·ws``).

    Returns:
      ``(idx [B, N_c, k] int32 style-node ids, score [B, N_c, k] float32)``, scores sorted descending.
    """
    if content_feat.shape[0] != style_feat.shape[0] or content_feat.shape[-1] != style_feat.shape[-1]:
        raise ValueError(f"content {tuple(content_feat.shape)} and style {tuple(style_feat.shape)} features must "
                         "share batch size and channels")
    _check(similarity, k, style_feat.shape[1] * style_feat.shape[2], block_size)
    check_patch_grid(style_feat.shape[1:3], patch_size, 1, padding, "style feature map")
    return knn_windows(content_feat, style_feat, k=k, patch_size=patch_size, stride=stride, similarity=similarity,
                       block_size=block_size, padding=padding, precision=precision)


def content_knn_edges(content_feat: jax.Array, *, k: int, patch_size: int = 5, stride: int = 1,
                      similarity: str = "ncc", block_size: int = 1024, padding: str = "reflect",
                      precision=_HIGHEST) -> tuple[jax.Array, jax.Array]:
    """Content↔content edges: each content node's k most similar other content nodes (self excluded).

    Returns ``(idx [B, N_c, k], score [B, N_c, k])`` like :func:`knn_edges`.
    """
    hn, wn = -(-content_feat.shape[1] // stride), -(-content_feat.shape[2] // stride)
    _check(similarity, k, hn * wn - 1, block_size)
    return knn_windows(content_feat, content_feat, k=k, patch_size=patch_size, stride=stride,
                       candidate_stride=stride, similarity=similarity, block_size=block_size, exclude_self=True,
                       padding=padding, precision=precision)


_SPATIAL = ((-1, 0), (1, 0), (0, -1), (0, 1), (-1, -1), (-1, 1), (1, -1), (1, 1))


def spatial_edges(content_feat: jax.Array, *, k: int = 8, patch_size: int = 5, similarity: str = "ncc",
                  padding: str = "reflect") -> tuple[jax.Array, jax.Array]:
    """Content↔content edges to the grid neighbours (4-neighbourhood first, then diagonals; ``k <= 8``).

    Neighbours off the grid are reflected back inside it. The score of each edge is the patch similarity of the
    pair, computed window offset by window offset, so memory stays ``O(N·C)`` at any size.

    Returns ``(idx [B, N_c, k], score [B, N_c, k])`` (not sorted by score).
    """
    if not 1 <= k <= 8:
        raise ValueError(f"k={k}: spatial content edges take 1..8 grid neighbours")
    if similarity not in SIMILARITIES:
        raise ValueError(f"similarity={similarity!r}: choose one of {', '.join(SIMILARITIES)}")
    b, h, w, c = content_feat.shape
    check_patch_grid((h, w), patch_size, 1, padding, "content feature map")
    if min(h, w) < 2:
        raise ValueError(f"spatial edges need a feature map of at least 2x2, got {h}x{w}")
    ys, xs = jnp.meshgrid(jnp.arange(h), jnp.arange(w), indexing="ij")

    def reflect(v, n):
        v = jnp.abs(v)
        return jnp.where(v > n - 1, 2 * (n - 1) - v, v)

    ny = jnp.stack([reflect(ys + dy, h) for dy, _ in _SPATIAL[:k]], -1).reshape(-1, k)
    nx = jnp.stack([reflect(xs + dx, w) for _, dx in _SPATIAL[:k]], -1).reshape(-1, k)
    idx = (ny * w + nx).astype(jnp.int32)
    return jnp.broadcast_to(idx, (b, h * w, k)), pair_scores(content_feat, idx, patch_size=patch_size,
                                                             similarity=similarity, padding=padding)


def pair_scores(feat: jax.Array, idx: jax.Array, *, patch_size: int = 5, similarity: str = "ncc",
                padding: str = "reflect") -> jax.Array:
    """Similarity between node ``i`` and nodes ``idx[i, t]`` of the same map, without materialising patches.

    Args:
      feat: ``[B, h, w, C]`` (nodes at stride 1).
      idx: ``[N, t]`` or ``[B, N, t]`` node ids.

    Returns:
      ``[B, N, t]`` float32.
    """
    b, h, w, c = feat.shape
    idx = jnp.broadcast_to(idx, (b, h * w, idx.shape[-1]))
    r = patch_size // 2
    padded = pad_for_patches(feat.astype(jnp.float32), patch_size, 1, padding)
    wp = w + 2 * r
    flat = padded.reshape(b, -1, c)
    base = (jnp.arange(h)[:, None] * wp + jnp.arange(w)[None, :]).reshape(-1)  # top-left of node i's window
    nbase = jnp.take(base, idx)  # [B, N, t]
    d = c * patch_size * patch_size

    take = jax.vmap(lambda f, ix: jnp.take(f, ix, axis=0, mode="clip"))
    pos_sum, pos_sq = flat.sum(-1, keepdims=True), (flat * flat).sum(-1, keepdims=True)  # per position [B, P, 1]

    def offset(o, acc):
        dot, s_i, s_j, q_i, q_j = acc
        oo = (o // patch_size) * wp + o % patch_size
        own = jnp.broadcast_to(base + oo, (b, h * w))
        fi = take(flat, own)  # [B, N, C]

        def column(t, dot):  # one neighbour's [B, N, C] taps at a time: O(N·C) memory
            return dot.at[..., t].add(jnp.einsum("bnc,bnc->bn", fi, take(flat, nbase[..., t] + oo),
                                                 precision=_HIGHEST))

        dot = jax.lax.fori_loop(0, idx.shape[-1], column, dot)
        nb = (nbase + oo).reshape(b, -1)
        s_i, q_i = s_i + take(pos_sum, own)[..., 0], q_i + take(pos_sq, own)[..., 0]
        s_j = s_j + take(pos_sum, nb)[..., 0].reshape(idx.shape)
        q_j = q_j + take(pos_sq, nb)[..., 0].reshape(idx.shape)
        return dot, s_i, s_j, q_i, q_j

    z_n, z_t = jnp.zeros((b, h * w), jnp.float32), jnp.zeros(idx.shape, jnp.float32)
    dot, s_i, s_j, q_i, q_j = jax.lax.fori_loop(0, patch_size * patch_size, offset, (z_t, z_n, z_t, z_n, z_t))
    if similarity == "euclidean":
        return 2 * dot - q_i[..., None] - q_j
    if similarity == "ncc":  # centre: <x̃,ỹ> = <x,y> − Σx Σy / D ; |x̃|² = |x|² − (Σx)² / D
        dot = dot - s_i[..., None] * s_j / d
        q_i, q_j = q_i - s_i ** 2 / d, q_j - s_j ** 2 / d
    norm_i, norm_j = jnp.sqrt(jnp.maximum(q_i, 0.0)), jnp.sqrt(jnp.maximum(q_j, 0.0))
    return dot / ((norm_i[..., None] + EPS) * (norm_j + EPS))


__all__ = ["SIMILARITIES", "knn_edges", "knn_from_nodes", "knn_windows", "knn_windows_flops", "content_knn_edges", "spatial_edges", "pair_scores",
           "scores", "prepare"]
