"""Patch graphs as jraph GraphsTuples (conventions §6.1).

One GraphsTuple per image pair, batched by stacking along a new leading axis (not ``jraph.batch``), so every field
has a static shape under jit and the batch axis stays the sharded axis:

* style→content: ``nodes = {"feat": [B, N_c+N_s, C], "pos": [B, N, 2], "is_style": [B, N],
  "scale_probs": [B, N, S]}`` with content nodes first (row-major grid order, then the style grid),
  ``senders`` = style node ids (offset by ``N_c``), ``receivers`` = content ids, sorted, exactly k per receiver,
  ``edges = {"ncc": [B, E]}``, ``n_node = [B, 1]``, ``n_edge = [B, 1]``;
* content↔content: the same conventions over the ``N_c`` content nodes (self-loops are added by layer B).

A node's patch is its p×p window on the grid (and, for style nodes, the scale mixture given by
``scale_probs``); ``"feat"`` holds the centre feature, so graphs stay ``O(N·C)`` at any resolution.
:func:`with_patches` materialises ``nodes["patches"] [N, p², C]`` for the general (any-graph) path.
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp

from jaxstyle.graph import jraph_compat as jc


def _grid_pos(h: int, w: int) -> jax.Array:
    ys, xs = jnp.divmod(jnp.arange(h * w, dtype=jnp.int32), w)
    return jnp.stack([ys, xs], -1)


def build_graph(content_feat: jax.Array, style_feat: jax.Array, idx: jax.Array, score: jax.Array, *,
                 scale_probs: jax.Array | None = None, content_idx: jax.Array | None = None,
                 content_score: jax.Array | None = None) -> tuple[jc.GraphsTuple, jc.GraphsTuple | None]:
    """Build the batched style→content graph and, if content edges are given, the content↔content graph.

    Args:
      content_feat: ``[B, h, w, C]``; style_feat: ``[B, hs, ws, C]``.
      idx, score: ``[B, N_c, k]`` style neighbours of every content node and their NCC (``knn_edges``).
      scale_probs: ``[B, hs, ws, S]`` style scale mixture (default: one scale).
      content_idx, content_score: ``[B, N_c, k_c]`` content neighbours (``content_knn_edges``/``spatial_edges``).

    Returns:
      ``(style_graph, content_graph or None)``.
    """
    b, h, w, c = content_feat.shape
    _, hs, ws, _ = style_feat.shape
    nc, ns = h * w, hs * ws
    k = idx.shape[-1]
    if scale_probs is None:
        scale_probs = jnp.ones((b, hs, ws, 1), jnp.float32)
    s = scale_probs.shape[-1]
    probs = jnp.concatenate([jnp.broadcast_to(jax.nn.one_hot(0, s), (b, nc, s)),
                             scale_probs.reshape(b, ns, s)], axis=1)
    nodes = {
        "feat": jnp.concatenate([content_feat.reshape(b, nc, c), style_feat.reshape(b, ns, c)], axis=1),
        "pos": jnp.broadcast_to(jnp.concatenate([_grid_pos(h, w), _grid_pos(hs, ws)]), (b, nc + ns, 2)),
        "is_style": jnp.broadcast_to(jnp.arange(nc + ns) >= nc, (b, nc + ns)),
        "scale_probs": probs,
    }
    receivers = jnp.broadcast_to(jnp.repeat(jnp.arange(nc, dtype=jnp.int32), k), (b, nc * k))
    style_graph = jc.GraphsTuple(
        nodes=nodes, edges={"ncc": score.reshape(b, nc * k).astype(jnp.float32)},
        senders=(idx.reshape(b, nc * k) + nc).astype(jnp.int32), receivers=receivers,
        n_node=jnp.full((b, 1), nc + ns, jnp.int32), n_edge=jnp.full((b, 1), nc * k, jnp.int32), globals=None)
    if content_idx is None:
        return style_graph, None
    kc = content_idx.shape[-1]
    content_graph = jc.GraphsTuple(
        nodes={"feat": nodes["feat"][:, :nc], "pos": nodes["pos"][:, :nc]},
        edges={"ncc": content_score.reshape(b, nc * kc).astype(jnp.float32)},
        senders=content_idx.reshape(b, nc * kc).astype(jnp.int32),
        receivers=jnp.broadcast_to(jnp.repeat(jnp.arange(nc, dtype=jnp.int32), kc), (b, nc * kc)),
        n_node=jnp.full((b, 1), nc, jnp.int32), n_edge=jnp.full((b, 1), nc * kc, jnp.int32), globals=None)
    return style_graph, content_graph


def unbatch(graph: jc.GraphsTuple, i: int) -> jc.GraphsTuple:
    """Example ``i`` of a stacked batch of graphs."""
    return jax.tree.map(lambda x: x[i], graph)


def with_patches(graph: jc.GraphsTuple, *, content_hw: tuple[int, int], style_hw: tuple[int, int],
                 patch_size: int, scales: Sequence[int]) -> jc.GraphsTuple:
    """Add ``nodes["patches"] [N, p², C]`` (materialised, scale-mixed) to one unbatched style→content graph."""
    from jaxstyle.graph.message_passing import node_patches

    h, w = content_hw
    hs, ws = style_hw
    nc = h * w
    feat, probs = graph.nodes["feat"], graph.nodes["scale_probs"]
    content = node_patches(feat[:nc].reshape(h, w, -1), probs[:nc], scales, patch_size)
    style = node_patches(feat[nc:].reshape(hs, ws, -1), probs[nc:], scales, patch_size)
    return graph._replace(nodes={**graph.nodes, "patches": jnp.concatenate([content, style])})
