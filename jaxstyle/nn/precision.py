"""Mixed precision: the compute dtype of a model's convolutions and matmuls (``config.model.compute_dtype``).

``"bfloat16"`` runs the frozen VGG-19 and every trainable convolution / projection (the decoder, AdaAttN's
attention projections, LST's compression and matrix nets, Style Kernel's kernel predictor, the GNN's scale
predictor, its message-passing projections and aggregation) on bfloat16 activations and bfloat16 copies of the
weights, which is where accelerators' fast matmul units are. Parameters, gradients, optimiser state and losses
stay float32: each layer casts its float32 weights at the call, so the gradient reaching a parameter is float32,
and Adam's moments never see bfloat16.

float32 stays where rounding would change results rather than add noise:

- channel statistics (means, standard deviations, AdaIN, LST's covariances, AdaAttN's attention-weighted moments,
  whose variance is ``E[v²] − E[v]²``, a difference of large numbers) and every loss (``losses`` reduce in float32);
- attention logits and softmax (``preferred_element_type=float32``);
- the GNN's NCC ranking: top-k picks graph edges by comparing scores that differ in the 3rd or 4th digit, and
  bfloat16 keeps about 3, so it would rewire the graph; with the attention logits it is about 1% of the step's
  FLOPs (``benchmarks/train_step.py`` reports each method's share of FLOPs in bfloat16);
- the decoder's output image (cast back to float32 before the losses and the pixel priors).
"""

from __future__ import annotations

import jax.numpy as jnp
from flax import nnx

#: ``config.model.compute_dtype`` values → the layers' compute dtype (``None``: float32, the layers' own path).
COMPUTE_DTYPES = {"float32": None, "bfloat16": jnp.bfloat16}


def model_settings(model_cfg: dict) -> dict:
    """A saved ``config.model`` without ``compute_dtype``: the trainer's choice, not the model's (a resume may change
    it, and an exported model is built without it)."""
    return {k: v for k, v in model_cfg.items() if k != "compute_dtype"}


def parse_compute_dtype(name: str) -> jnp.dtype | None:
    """``"float32"`` → ``None`` (no casts), ``"bfloat16"`` → ``jnp.bfloat16``; else a ``ValueError`` naming it."""
    if name not in COMPUTE_DTYPES:
        raise ValueError(f"config.model.compute_dtype={name!r}: use one of {', '.join(map(repr, COMPUTE_DTYPES))}")
    return COMPUTE_DTYPES[name]


def set_compute_dtype(model: nnx.Module, name: str) -> int:
    """Set the compute dtype of every layer of ``model`` that has one (a ``dtype`` attribute: the VGG-19, 3×3 and
    1×1 convolutions), in place; parameters are untouched (float32). Returns the number of layers set."""
    dtype = parse_compute_dtype(name)
    n = 0
    for _, module in nnx.iter_modules(model):
        if "dtype" in vars(module):
            module.dtype = dtype
            n += 1
    return n
