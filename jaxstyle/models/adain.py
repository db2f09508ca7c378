"""AdaIN (Huang & Belongie, ICCV 2017): frozen VGG-19 encoder, AdaIN at relu4_1, trained mirror decoder.

Spec: ``shared/spec/baselines.md`` §1. Only the decoder trains (its parameters are the model's ``nnx.Param``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
from flax import nnx

from jaxstyle.losses import content_loss, image_priors, mse, prior_weights, style_stats_loss
from jaxstyle.models.base import StyleModel
from jaxstyle.nn.blocks import MirrorDecoder
from jaxstyle.nn.vgg import VGG19, load_vgg19
from jaxstyle.ops.norms import adain, masked_mean_std, mean_std, valid_mask

FEATURE_LAYER = "relu4_1"


def default_config() -> ml_collections.ConfigDict:
    """Model hyper-parameters (the trainer's ``config.model``)."""
    return ml_collections.ConfigDict(dict(
        style_layers=("relu1_1", "relu2_1", "relu3_1", "relu4_1"),
        content_weight=1.0,
        style_weight=10.0,
        identity_weight=0.0,          # pixel MSE of decoder(F_c) vs the content (SANet's identity loss, pixel
                                      # part): teaches the decoder to invert relu4_1 much faster; 0 = the paper
        tv_weight=0.0,                # our choice (issue 15): losses.image_priors against the decoder's checker texture
        grid_weight=0.0,              # (0 = the paper)
        upsample="nearest",
        vgg_padding="reflect",
    ))


class AdaIN(StyleModel):
    """``model(content, style, alpha)``: ``[B, H, W, 3]`` × ``[B, Hs, Ws, 3]`` → ``[B, H, W, 3]`` (H, W multiples of 8)."""

    def __init__(self, encoder: VGG19, cfg: ml_collections.ConfigDict, *, rngs: nnx.Rngs):
        self.encoder = encoder
        widths = tuple(encoder.channels(f"relu{b}_1") for b in (4, 3, 2, 1))
        self.decoder = MirrorDecoder(widths, upsample=cfg.upsample, rngs=rngs)
        self.style_layers = tuple(cfg.style_layers)
        self.content_weight = float(cfg.content_weight)
        self.style_weight = float(cfg.style_weight)
        self.identity_weight = float(cfg.identity_weight)
        self.priors = prior_weights(cfg)

    def encode(self, x: jax.Array, valid: jax.Array | None = None) -> jax.Array:
        """``[B, H, W, 3] -> [B, H/8, W/8, 512]`` relu4_1 features (``valid``: see ``VGG19``)."""
        return self.encoder(x, (FEATURE_LAYER,), valid=valid)[FEATURE_LAYER]

    def transform(self, fc: jax.Array, fs: jax.Array, alpha: float | jax.Array = 1.0) -> jax.Array:
        """The decoder's input: ``α·AdaIN(F_c, F_s) + (1 − α)·F_c`` at relu4_1."""
        return alpha * adain(fc, fs) + (1.0 - alpha) * fc.astype(jnp.float32)

    masked = True

    def prepare_style(self, fs: jax.Array) -> dict[str, jax.Array]:
        """The style's relu4_1 channel statistics ``{"mean", "std"}``, each ``[1, 1, 1, C]``."""
        mean, std = mean_std(fs)
        return {"mean": mean, "std": std}

    def content_state(self, fc: jax.Array, valid: jax.Array | None = None) -> dict[str, jax.Array]:
        """The content's relu4_1 channel statistics ``{"mean", "std"}`` ``[B, 1, 1, C]`` (inside ``valid``)."""
        mean, std = masked_mean_std(fc, None if valid is None else valid_mask(valid, fc.shape[1:3], 8))
        return {"mean": mean, "std": std}

    def transform_prepared(self, fc: jax.Array, style: dict[str, jax.Array], alpha: float | jax.Array = 1.0,
                           valid: jax.Array | None = None, *, state: dict[str, jax.Array] | None = None) -> jax.Array:
        """:meth:`transform` from the style's statistics; the content's are taken inside ``valid`` only, or given
        as ``state`` (:meth:`content_state`, e.g. a video's first frame's: one fixed affine map for every frame)."""
        state = self.content_state(fc, valid) if state is None else state
        mean, std = state["mean"], state["std"]
        fc = fc.astype(jnp.float32)
        return alpha * ((fc - mean) / std * style["std"] + style["mean"]) + (1.0 - alpha) * fc

    def __call__(self, content: jax.Array, style: jax.Array, alpha: float | jax.Array = 1.0) -> jax.Array:
        return self.decoder(self.transform(self.encode(content), self.encode(style), alpha))

    def loss(self, content: jax.Array, style: jax.Array, *, key: jax.Array | None = None,
             ) -> tuple[jax.Array, dict[str, jax.Array]]:
        """Training objective: ``w_c·L_c + w_s·L_s`` (AdaIN paper / reference code: 1 and 10), plus
        ``w_id·MSE(decoder(F_c), content)`` when ``identity_weight > 0`` and ``losses.image_priors``. ``key`` is unused.

        Returns:
          ``(loss, {"loss_content", "loss_style"[, "loss_identity"]})``, float32 scalars (means over the batch).
        """
        layers = tuple(dict.fromkeys(self.style_layers + (FEATURE_LAYER,)))
        fc = self.encoder(content, (FEATURE_LAYER,))[FEATURE_LAYER]
        fs = self.encoder(style, layers)
        t = adain(fc, fs[FEATURE_LAYER])
        out = self.decoder(t)
        fo = self.encoder(out, layers)
        lc = content_loss(fo[FEATURE_LAYER], t)
        ls = style_stats_loss(fo, fs, self.style_layers)
        aux = {"loss_content": lc, "loss_style": ls}
        total = self.content_weight * lc + self.style_weight * ls
        if self.identity_weight:
            aux["loss_identity"] = mse(self.decoder(fc), content)
            total = total + self.identity_weight * aux["loss_identity"]
        prior, prior_aux = image_priors(out, **self.priors)
        return total + prior, aux | prior_aux


def build(cfg: ml_collections.ConfigDict, *, rngs: nnx.Rngs, encoder: VGG19 | None = None) -> AdaIN:
    """Build an AdaIN model; ``encoder`` defaults to the cached ImageNet VGG-19."""
    return AdaIN(encoder if encoder is not None else load_vgg19(padding=cfg.vgg_padding), cfg, rngs=rngs)
