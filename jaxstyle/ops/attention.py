"""Attention-weighted feature statistics in query blocks (pure functions; AdaAttN's core).

The ``N_c × N_s`` attention matrix is never held whole: queries are processed ``block`` at a time, so peak memory is
``O(block · N_s)`` whatever the content size (the reference code forms the full matrix, which at 2048² content is
``262k × 4096`` floats for the relu3_1 module alone).
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp


def sample_positions(key: jax.Array, n: int, cap: int) -> jax.Array | None:
    """A random subset of ``cap`` of ``n`` positions (int32 ``[cap]``), or ``None`` when ``n <= cap`` (use all)."""
    if n <= cap:
        return None
    return jax.random.permutation(key, n)[:cap].astype(jnp.int32)


def map_query_blocks(fn: Callable[..., jax.Array], block: int, *per_query: jax.Array) -> jax.Array:
    """``fn(*per_query)`` computed ``block`` queries at a time (``jax.lax.map`` over a padded block axis).

    Args:
      fn: maps ``[B, n, ...]`` slices of every ``per_query`` array to ``[B, n, C]``, each query independently.
      block: queries per call; one call when it covers them all.
      per_query: arrays ``[B, N, ...]`` sharing the query axis 1.

    Returns:
      ``[B, N, C]``, the same as ``fn(*per_query)``, with memory of one block's intermediates.
    """
    b, n = per_query[0].shape[:2]
    block = max(1, min(int(block), n))
    if block >= n:
        return fn(*per_query)
    nb = -(-n // block)
    pad = nb * block - n

    def blocks(x):
        x = jnp.pad(x, ((0, 0), (0, pad)) + ((0, 0),) * (x.ndim - 2))
        return x.reshape(b, nb, block, *x.shape[2:]).swapaxes(0, 1)

    out = jax.lax.map(lambda args: fn(*args), tuple(blocks(x) for x in per_query))  # [nb, B, block, C]
    return out.swapaxes(0, 1).reshape(b, nb * block, -1)[:, :n]


def attention_mean_std(q: jax.Array, k: jax.Array, v: jax.Array, *, block: int = 4096,
                       q_labels: jax.Array | None = None, k_labels: jax.Array | None = None,
                       k_valid: jax.Array | None = None, kernel: str = "softmax") -> tuple[jax.Array, jax.Array]:
    """``A = softmax_j(q_i · k_j)`` (no scaling); ``M = A v`` and ``S = sqrt(relu(A v² − M²))`` per query.

    ``kernel="cosine"``: ``A_ij ∝ relu(cos(q_i, k_j) + 1)`` instead (AdaAttN's video setting: bounded weights that
    change smoothly with the query, so a small change of the content moves the output little).

    Args:
      q: ``[B, N_c, D]`` queries; k: ``[B, N_s, D]`` keys; v: ``[B, N_s, C]`` values.
      block: queries per block (memory ``O(block · N_s)``); the result does not depend on it.
      q_labels, k_labels: optional ``[B, N_c]`` / ``[B, N_s]`` int region labels: query ``i`` attends only to keys
        with its label (user-controlled correspondence); a query whose label no key has attends to every key.

    Returns:
      ``(M, S)``, each ``[B, N_c, C]`` float32.
    """
    c = v.shape[-1]
    v = v.astype(jnp.float32)  # moments in float32: the variance is a difference of two of them
    vv = jnp.concatenate([v, jnp.square(v)], axis=-1)  # one matmul gives both moments
    masked = q_labels is not None and k_labels is not None

    if kernel not in ("softmax", "cosine"):
        raise ValueError(f"attention kernel {kernel!r}: use 'softmax' or 'cosine'")
    cosine = kernel == "cosine"
    if cosine:
        k = k / (jnp.linalg.norm(k.astype(jnp.float32), axis=-1, keepdims=True) + 1e-5)

    def one(qi, li=None):
        if cosine:
            qi = qi / (jnp.linalg.norm(qi.astype(jnp.float32), axis=-1, keepdims=True) + 1e-5)
        logits = jnp.einsum("bqd,bkd->bqk", qi, k, preferred_element_type=jnp.float32)
        keep = None if k_valid is None else k_valid[:, None, :]
        if li is not None:
            same = li[:, :, None] == k_labels[:, None, :]
            same = same | ~jnp.any(same, axis=-1, keepdims=True)
            keep = same if keep is None else keep & same
        if cosine:
            w = jax.nn.relu(logits + 1.0)
            w = w if keep is None else jnp.where(keep, w, 0.0)
            a = w / (jnp.sum(w, axis=-1, keepdims=True) + 1e-5)
        else:
            a = jax.nn.softmax(logits if keep is None else jnp.where(keep, logits, -jnp.inf), axis=-1)
        return jnp.einsum("bqk,bkc->bqc", a, vv)

    moments = map_query_blocks(one, block, q, *((q_labels,) if masked else ()))
    mean, second = moments[..., :c], moments[..., c:]
    return mean, jnp.sqrt(jax.nn.relu(second - jnp.square(mean)))
