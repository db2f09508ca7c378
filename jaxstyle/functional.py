"""Pure functions over pytrees, for JAX research: ``apply(variables, content, style) -> image``.

    model = jaxstyle.load_pretrained("adain.npz")          # or jaxstyle.build_model("gnn")
    apply, variables = jaxstyle.functional.split(model)
    out = jax.jit(apply)(variables, content, style)          # [B, H, W, 3] in [0, 1]
    grads = jax.grad(lambda v: loss(apply(v, content, style)))(variables)
    outs = jax.vmap(apply, in_axes=(None, 0, 0))(variables, contents, styles)   # extra leading axis

``variables`` is ``{"params": trainable, "frozen": the rest}`` (plain pytrees of arrays); ``apply`` closes over
nothing but the model's static structure, so it can be jitted, vmapped and differentiated (w.r.t. the variables or
the images) freely.
"""

from __future__ import annotations

from typing import Callable

import jax
from flax import nnx

Variables = dict[str, nnx.State]


def split(model: nnx.Module) -> tuple[Callable[..., jax.Array], Variables]:
    """``(apply, variables)`` for ``model``.

    ``apply(variables, content, style, alpha=1.0, *, k=None, key=None)`` maps ``[B, H, W, 3]`` content and
    ``[B, Hs, Ws, 3]`` style (float in [0, 1], H, W multiples of 8) to the ``[B, H, W, 3]`` image. ``k`` (static;
    graph methods only) overrides the number of style edges per content patch; ``key`` drives stochastic scale
    mixing where the model has it; ``sample_tau``/``seed`` (static) draw one of the k edges per patch and
    ``fold_size`` (static) narrows the patch fold (the GNN's diversity controls, see ``jaxstyle.stylize``).
    """
    graphdef, params, frozen = nnx.split(model, nnx.Param, ...)
    takes_k = hasattr(model, "scale_probs")

    def apply(variables: Variables, content: jax.Array, style: jax.Array, alpha: float | jax.Array = 1.0, *,
              k: int | None = None, key: jax.Array | None = None, sample_tau: float | None = None,
              seed: int | None = None, fold_size: int | None = None) -> jax.Array:
        m = nnx.merge(graphdef, variables["params"], variables["frozen"])
        if takes_k:
            return m(content, style, alpha, k=k, key=key, sample_tau=sample_tau, seed=seed, fold_size=fold_size)
        if k is not None or sample_tau is not None or fold_size is not None:
            raise ValueError(f"k={k}, sample_tau={sample_tau}, fold_size={fold_size}: style edges apply to graph "
                             "methods only")
        return m(content, style, alpha)

    return apply, {"params": params, "frozen": frozen}


def encode(model: nnx.Module) -> tuple[Callable[..., jax.Array], Variables]:
    """``(features, variables)`` with ``features(variables, images) -> [B, H/8, W/8, 512]`` (the model's relu4_1)."""
    graphdef, params, frozen = nnx.split(model, nnx.Param, ...)

    def features(variables: Variables, images: jax.Array) -> jax.Array:
        return nnx.merge(graphdef, variables["params"], variables["frozen"]).encode(images)

    return features, {"params": params, "frozen": frozen}
