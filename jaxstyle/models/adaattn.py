"""AdaAttN (Liu et al., ICCV 2021): attention-weighted mean and std at relu3_1 / relu4_1 / relu5_1.

Spec: ``shared/spec/baselines.md`` §2, following the authors' released code: multi-level mean-variance-normalised
keys (relu1_1 up to the module's level, nearest-resized), per-position attention statistics, a merge conv of the
relu4_1 module and the upsampled relu5_1 module, and the AdaIN-style decoder with the relu3_1 module's output as a
skip. With the official weights converted (``python -m jaxstyle.weights convert-official adaattn ...``) the output
equals the reference code's (when no style subsampling happens, i.e. style ≤ 256² px; above it both draw a random
subset of style positions, from different generators).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
from flax import nnx

from jaxstyle.losses import image_priors, mse, prior_weights, style_stats_loss
from jaxstyle.models.base import StyleModel
from jaxstyle.nn.blocks import Conv1x1, MirrorDecoder, ReflectConv
from jaxstyle.nn.vgg import VGG19, load_vgg19
from jaxstyle.ops.conv import pad_beyond
from jaxstyle.ops.attention import attention_mean_std, sample_positions
from jaxstyle.ops.norms import masked_mvn, mvn, valid_mask
from jaxstyle.ops.resize import resize_nearest, upsample2x

LEVELS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
STRIDES = {level: 2 ** i for i, level in enumerate(LEVELS)}  # image px per feature position
POSITION_BUCKET = 512  # cached style keys/values are padded to a multiple of this many positions (fewer compiles)
Features = dict[str, jax.Array]


def default_config() -> ml_collections.ConfigDict:
    """Model hyper-parameters (the trainer's ``config.model``); the defaults are the released model's."""
    return ml_collections.ConfigDict(dict(
        skip_connection_3=True,       # relu3_1 module + decoder skip (on in the released model)
        shallow_layer=True,           # keys concatenate mvn features from relu1_1 up to the module's level
        max_sample_3=64 * 64,         # style positions the relu3_1 module attends to at most (random subset above)
        max_sample_45=256 * 256,      # same for the relu4_1 / relu5_1 modules
        loss_max_sample=64 * 64,      # same for the parameter-free targets of the local feature loss
        sample_seed=6666,             # subset seed at inference (the reference test script's); training draws per step
        query_block=4096,             # content positions per attention block (memory O(block · N_s); same result)
        loss_layers=("relu2_1", "relu3_1", "relu4_1", "relu5_1"),  # global style + local feature losses (code)
        global_layers=(),             # the global style loss's layers instead, if set (our choice; () = loss_layers)
        global_weight=10.0,           # λ_g
        local_weight=3.0,             # λ_l
        content_weight=0.0,           # mvn-MSE content loss over content_layers (0 in the released training script)
        content_layers=(),            # the content term's layers, if set (() = loss_layers, as the code)
        identity_weight=0.0,          # pixel MSE of model(c, c) vs c (SANet-style identity; 0 = the paper)
        tv_weight=0.0,                # losses.image_priors on the stylized output against the decoder's checker
        grid_weight=0.0,              # texture (our choice; 0 = the paper)
        attention="softmax",          # "softmax" (the image model) | "cosine": A ∝ relu(cos + 1), the video setting
        similarity_weight=0.0,        # λ_is: the cross-image similarity loss (video setting; 0 = the image model)
        similarity_layers=("relu3_1", "relu4_1"),  # its layers (our choice)
        init_std=0.02,                # N(0, init_std) weights, zero biases (the reference init)
        upsample="nearest",
        vgg_padding="reflect",
    ))


class AdaAttNBlock(nnx.Module):
    """One AdaAttN module: ``S ⊙ mvn(F_c) + M`` with ``M, S`` the attention-weighted style mean and std.

    ``f``/``g`` project the content/style keys (``key_ch → key_ch``), ``h`` the style values (``C → C``).
    """

    def __init__(self, channels: int, key_channels: int, *, std: float, rngs: nnx.Rngs):
        self.f = Conv1x1(key_channels, key_channels, rngs=rngs, std=std)
        self.g = Conv1x1(key_channels, key_channels, rngs=rngs, std=std)
        self.h = Conv1x1(channels, channels, rngs=rngs, std=std)

    def __call__(self, content: jax.Array, style: jax.Array, content_key: jax.Array, style_key: jax.Array, *,
                 max_sample: int, key: jax.Array, block: int,
                 labels: tuple[jax.Array, jax.Array] | None = None, kernel: str = "softmax") -> jax.Array:
        """``[B, h, w, C]`` content/style features and ``[B, ·, ·, key_ch]`` keys → ``[B, h, w, C]``."""
        return attend(self.f(content_key), self.g(style_key), self.h(style), content, max_sample=max_sample,
                      key=key, block=block, labels=labels, kernel=kernel)


def attend(q: jax.Array, k: jax.Array, v: jax.Array, content: jax.Array, *, max_sample: int, key: jax.Array,
           block: int, labels: tuple[jax.Array, jax.Array] | None = None, kernel: str = "softmax") -> jax.Array:
    """The attention step shared by the modules and the loss's parameter-free targets.

    Args:
      kernel: ``"softmax"`` or ``"cosine"`` (:func:`jaxstyle.ops.attention.attention_mean_std`).
      q: ``[B, h, w, D]``; k: ``[B, hs, ws, D]``; v: ``[B, hs, ws, C]``; content: ``[B, h, w, C]``.
      labels: optional ``([B, h, w], [B, hs, ws])`` int region maps (content region → style region).
    """
    b, h, w, _ = q.shape
    kf, vf = k.reshape(b, -1, k.shape[-1]), v.reshape(b, -1, v.shape[-1])
    kl = None if labels is None else labels[1].reshape(b, -1)
    idx = sample_positions(key, kf.shape[1], max_sample)
    if idx is not None:
        kf, vf = kf[:, idx], vf[:, idx]
        kl = None if kl is None else kl[:, idx]
    mean, std = attention_mean_std(q.reshape(b, h * w, -1), kf, vf, block=block,
                                   q_labels=None if labels is None else labels[0].reshape(b, -1), k_labels=kl,
                                   kernel=kernel)
    shape = (b, h, w, v.shape[-1])
    return std.reshape(shape) * mvn(content) + mean.reshape(shape)


def keys(feats: Features, level: str, shallow: bool = True, mask: jax.Array | None = None) -> jax.Array:
    """``concat_l mvn(resize_nearest(F^l → size of F^level))`` over relu1_1..level (``shallow``), else
    ``mvn(F^level)``: ``[B, h, w, Σ C_l]``. ``mask`` ``[B, h, w, 1]``: statistics inside it only."""
    upto = LEVELS[: LEVELS.index(level) + 1] if shallow else (level,)
    size = feats[level].shape[1:3]
    return jnp.concatenate([masked_mvn(resize_nearest(feats[l], size), mask) for l in upto], axis=-1)


def flat_keys_values(k: jax.Array, v: jax.Array, cap: int, key: jax.Array, mask: jax.Array | None = None,
                     bucket: int = 1) -> dict[str, jax.Array]:
    """Attention keys ``[B, h, w, D]`` and values ``[B, h, w, C]`` as position lists, subsampled to ``cap`` as
    :func:`attend` does, then padded to a multiple of ``bucket``: ``{"k": [B, N, D], "v": [B, N, C],
    "valid": [B, N] bool}`` (``mask`` ``[B, h, w, 1]`` marks the positions that exist)."""
    b = k.shape[0]
    kf, vf = k.reshape(b, -1, k.shape[-1]), v.reshape(b, -1, v.shape[-1])
    ok = jnp.ones(kf.shape[:2], bool) if mask is None else mask.reshape(b, -1) > 0
    idx = sample_positions(key, kf.shape[1], cap)
    if idx is not None:
        kf, vf, ok = kf[:, idx], vf[:, idx], ok[:, idx]
    pad = -kf.shape[1] % bucket
    if pad:
        kf, vf = (jnp.pad(x, ((0, 0), (0, pad), (0, 0))) for x in (kf, vf))
        ok = jnp.pad(ok, ((0, 0), (0, pad)))
    return {"k": kf, "v": vf, "valid": ok}


def cross_similarity_loss(c1: jax.Array, c2: jax.Array, o1: jax.Array, o2: jax.Array) -> jax.Array:
    """AdaAttN's cross-image similarity loss at one layer (the video setting): the cosine distances between every
    position of image 1 and every position of image 2, each column divided by its mean, should be the same for the
    two contents ``c1, c2`` as for their stylizations ``o1, o2`` (each ``[B, h, w, C]``, the same ``h, w``). Mean
    absolute difference, a scalar ≥ 0."""
    def distances(a, b):
        a = a.reshape(a.shape[0], -1, a.shape[-1]).astype(jnp.float32)
        b = b.reshape(b.shape[0], -1, b.shape[-1]).astype(jnp.float32)
        a = a / (jnp.linalg.norm(a, axis=-1, keepdims=True) + 1e-5)
        b = b / (jnp.linalg.norm(b, axis=-1, keepdims=True) + 1e-5)
        d = 1.0 - jnp.einsum("bic,bjc->bij", a, b)
        return d / (jnp.mean(d, axis=1, keepdims=True) + 1e-5)

    return jnp.mean(jnp.abs(jax.lax.stop_gradient(distances(c1, c2)) - distances(o1, o2)))


def _downsample_labels(labels: jax.Array | None, size: tuple[int, int]) -> jax.Array | None:
    return None if labels is None else resize_nearest(labels[..., None], size)[..., 0]


class AdaAttN(StyleModel):
    """``model(content, style, alpha=1.0)``: ``[B, H, W, 3]`` × ``[B, Hs, Ws, 3]`` → ``[B, H, W, 3]``
    (H, W, Hs, Ws multiples of 16: relu5_1 is upsampled onto relu4_1)."""

    size_multiple = 16

    def __init__(self, encoder: VGG19, cfg: ml_collections.ConfigDict, *, rngs: nnx.Rngs):
        self.encoder = encoder
        self.cfg = cfg
        ch = {l: encoder.channels(l) for l in LEVELS}
        std = float(cfg.init_std)

        def key_ch(level):
            return sum(ch[l] for l in LEVELS[: LEVELS.index(level) + 1]) if cfg.shallow_layer else ch[level]

        self.attn_3 = (AdaAttNBlock(ch["relu3_1"], key_ch("relu3_1"), rngs=rngs, std=std)
                       if cfg.skip_connection_3 else None)
        self.attn_4 = AdaAttNBlock(ch["relu4_1"], key_ch("relu4_1"), rngs=rngs, std=std)
        self.attn_5 = AdaAttNBlock(ch["relu5_1"], key_ch("relu5_1"), rngs=rngs, std=std)
        self.merge = ReflectConv(ch["relu4_1"], ch["relu4_1"], rngs=rngs)
        self.merge.kernel[...] = std * jax.random.normal(rngs.params(), self.merge.kernel.shape)
        widths = tuple(ch[f"relu{b}_1"] for b in (4, 3, 2, 1))
        self.decoder = MirrorDecoder(widths, upsample=cfg.upsample, rngs=rngs,
                                     skip_channels=ch["relu3_1"] if cfg.skip_connection_3 else 0)
        for conv in self.decoder.convs:
            conv.kernel[...] = std * jax.random.normal(rngs.params(), conv.kernel.shape)
        self.style_layers = tuple(cfg.loss_layers)
        self.global_layers = tuple(cfg.global_layers) or self.style_layers
        self.content_layers = tuple(cfg.content_layers) or self.style_layers
        self.attention_kernel = str(cfg.attention)
        self.similarity_layers = tuple(cfg.similarity_layers)

    def check_inputs(self, content_shape, style_shape) -> None:
        """One ``ValueError`` for a shape this model cannot take (before any heavy work)."""
        for name, shape in (("content", content_shape), ("style", style_shape)):
            if len(shape) != 4 or shape[-1] != 3:
                raise ValueError(f"adaattn: {name} must be [B, H, W, 3] RGB, got shape {tuple(shape)}")
            if shape[1] % 16 or shape[2] % 16 or min(shape[1:3]) < 32:
                raise ValueError(f"adaattn: {name} is {shape[1]}x{shape[2]}; each side must be a multiple of 16 "
                                 "and at least 32 px (relu5_1 is upsampled onto relu4_1); pad or resize it")

    def encode(self, x: jax.Array, valid: jax.Array | None = None) -> Features:
        """``[B, H, W, 3]`` → ``{relu1_1: [B, H, W, 64], ..., relu5_1: [B, H/16, W/16, 512]}`` (``valid``: see
        ``VGG19``)."""
        return self.encoder(x, LEVELS, valid=valid)

    def _sample_key(self, key: jax.Array | None) -> jax.Array:
        return jax.random.key(int(self.cfg.sample_seed)) if key is None else key

    def transform(self, fc: Features, fs: Features, alpha: float | jax.Array = 1.0, *, key: jax.Array | None = None,
                  labels: tuple[jax.Array, jax.Array] | None = None) -> Features:
        """The decoder's input: ``{"t": merge(A4 + up(A5)) [B, h/8, w/8, 512], "skip": A3 [B, h/4, w/4, 256],
        "a4": A4}``; each module's output is ``α·A(c, s) + (1 − α)·A(c, c)`` at its level: α = 0 gives the content
        attending to itself, the features the identity loss trains the decoder to render as the photo (the raw
        ``F_c`` is not a decoder input; the official code has no α). ``A(c, c)`` is computed only when ``α < 1``.

        Args:
          key: draws the style subsets (only where a style exceeds ``max_sample``); default ``sample_seed``.
          labels: optional ``([B, H, W], [B, Hs, Ws])`` int region maps at image resolution: content pixels of a
            region attend only to style pixels of the same region.
        """
        cfg = self.cfg
        key = self._sample_key(key)
        block = int(cfg.query_block)
        full = isinstance(alpha, (int, float)) and alpha == 1.0

        def module(block_mod, level, cap):
            def attend(f, lab):  # content attends to f (the style, or the content itself); lab: f's labels
                lab = None if labels is None else (_downsample_labels(labels[0], fc[level].shape[1:3]),
                                                   _downsample_labels(lab, f[level].shape[1:3]))
                return block_mod(fc[level], f[level], keys(fc, level, cfg.shallow_layer),
                                 keys(f, level, cfg.shallow_layer), max_sample=cap, key=key, block=block, labels=lab,
                                 kernel=self.attention_kernel)

            a = attend(fs, None if labels is None else labels[1])
            if full:
                return a
            own = jax.lax.cond(jnp.asarray(alpha) < 1.0, lambda: attend(fc, None if labels is None else labels[0]),
                               lambda: a)
            return alpha * a + (1.0 - alpha) * own

        a4 = module(self.attn_4, "relu4_1", int(cfg.max_sample_45))
        a5 = module(self.attn_5, "relu5_1", int(cfg.max_sample_45))
        out = {"t": self.merge(a4 + upsample2x(a5)), "a4": a4}
        if self.attn_3 is not None:
            out["skip"] = module(self.attn_3, "relu3_1", int(cfg.max_sample_3))
        return out

    masked = True

    def _modules(self):
        cfg = self.cfg
        mods = [("a4", self.attn_4, "relu4_1", int(cfg.max_sample_45)),
                ("a5", self.attn_5, "relu5_1", int(cfg.max_sample_45))]
        return mods + ([("a3", self.attn_3, "relu3_1", int(cfg.max_sample_3))] if self.attn_3 is not None else [])

    def prepare_style(self, fs: Features) -> dict[str, dict[str, jax.Array]]:
        """Each module's projected style keys and values as position lists (subsampled as :meth:`transform` does
        with the default key, padded to a multiple of ``POSITION_BUCKET``; see :func:`flat_keys_values`)."""
        key, shallow = self._sample_key(None), self.cfg.shallow_layer
        return {name: flat_keys_values(mod.g(keys(fs, level, shallow)), mod.h(fs[level]), cap, key,
                                       bucket=POSITION_BUCKET)
                for name, mod, level, cap in self._modules()}

    def transform_prepared(self, fc: Features, style: dict[str, dict[str, jax.Array]],
                           alpha: float | jax.Array = 1.0, valid: jax.Array | None = None) -> Features:
        """:meth:`transform` from :meth:`prepare_style`; the content's statistics (and, for ``α < 1``, its own keys)
        are taken inside ``valid``. For ``α < 1`` a content above ``max_sample`` positions draws its subset from
        the padded grid, so that part may differ from the unpadded result by the draw."""
        key, shallow = self._sample_key(None), self.cfg.shallow_layer
        full = isinstance(alpha, (int, float)) and alpha == 1.0
        b = fc["relu1_1"].shape[0]

        def attend_flat(q, kv, content, mask):
            kv = jax.tree.map(lambda x: jnp.broadcast_to(x, (b, *x.shape[1:])), kv)
            h, w = q.shape[1:3]
            mean, std = attention_mean_std(q.reshape(b, h * w, -1), kv["k"], kv["v"], block=int(self.cfg.query_block),
                                           k_valid=kv["valid"], kernel=self.attention_kernel)
            shape = (b, h, w, kv["v"].shape[-1])
            return std.reshape(shape) * masked_mvn(content, mask) + mean.reshape(shape)

        out = {}
        for name, mod, level, cap in self._modules():
            mask = None if valid is None else valid_mask(valid, fc[level].shape[1:3], STRIDES[level])
            kc = keys(fc, level, shallow, mask)
            q = mod.f(kc)
            a = attend_flat(q, style[name], fc[level], mask)
            if not full:
                own = jax.lax.cond(
                    jnp.asarray(alpha) < 1.0,
                    lambda: attend_flat(q, flat_keys_values(mod.g(kc), mod.h(fc[level]), cap, key, mask), fc[level],
                                        mask),
                    lambda: a)
                a = alpha * a + (1.0 - alpha) * own
            out[name] = a
        merged = pad_beyond(out["a4"] + upsample2x(out["a5"]), None if valid is None else valid // 8)
        res = {"t": self.merge(merged), "a4": out["a4"]}
        if "a3" in out:
            res["skip"] = out["a3"]
        return res

    def decode(self, t: Features, valid: jax.Array | None = None) -> jax.Array:
        """``{"t", "skip"}`` → ``[B, 8h, 8w, 3]`` (``valid``: image px, see ``VGG19``)."""
        return self.decoder(t["t"], t.get("skip"), valid=None if valid is None else valid // 8)

    def targets(self, t: Features) -> Features:
        """VGG features the image should have (training-free ``decoder="optimize"``)."""
        return {"relu4_1": t["a4"], **({"relu3_1": t["skip"]} if "skip" in t else {})}

    def optimize_objective(self) -> tuple[tuple[str, ...], float, float]:
        """The global mean/std loss layers, weighted as the local (content side) and global terms of training."""
        return self.style_layers, float(self.cfg.local_weight), float(self.cfg.global_weight)

    def __call__(self, content: jax.Array, style: jax.Array, alpha: float | jax.Array = 1.0, *,
                 key: jax.Array | None = None) -> jax.Array:
        self.check_inputs(content.shape, style.shape)
        return self.decode(self.transform(self.encode(content), self.encode(style), alpha, key=key))

    def local_targets(self, fc: Features, fs: Features, key: jax.Array) -> Features:
        """The parameter-free AdaAttN* (f, g, h = identity) at each loss layer: the local feature loss's targets."""
        cfg = self.cfg
        out = {}
        for level in self.style_layers:
            kc, ks = keys(fc, level, cfg.shallow_layer), keys(fs, level, cfg.shallow_layer)
            out[level] = attend(kc, ks, fs[level], fc[level], max_sample=int(cfg.loss_max_sample), key=key,
                                block=int(cfg.query_block), kernel=self.attention_kernel)
        return jax.tree.map(jax.lax.stop_gradient, out)

    def loss(self, content: jax.Array, style: jax.Array, *, key: jax.Array | None = None,
             ) -> tuple[jax.Array, dict[str, jax.Array]]:
        """``λ_g·L_gs + λ_l·L_lf (+ λ_c·L_c + λ_id·L_id + λ_is·L_is + losses.image_priors)``: ``L_lf`` over
        ``loss_layers``, ``L_gs`` over ``global_layers`` and ``L_c`` over ``content_layers`` (each defaults to
        ``loss_layers``, as the code); ``L_is`` (:func:`cross_similarity_loss`, the video setting) over
        ``similarity_layers``, each content paired with the batch's next one under the same style (batch ≥ 2). ``key`` draws the style subsets (the same draw for the modules and the loss in one step, as the
        reference code does).

        Returns:
          ``(loss, {"loss_global", "loss_local"[, "loss_content", "loss_identity", "loss_similarity", "loss_tv",
          "loss_grid"]})``
          float32 scalars.
        """
        cfg = self.cfg
        self.check_inputs(content.shape, style.shape)
        key = self._sample_key(key)
        fc, fs = self.encode(content), self.encode(style)
        out = self.decode(self.transform(fc, fs, key=key))
        similarity = float(cfg.similarity_weight)
        used = (self.style_layers + self.global_layers
                + (self.content_layers if cfg.content_weight else ()) + (self.similarity_layers if similarity else ()))
        fo = self.encoder(out, tuple(l for l in LEVELS if l in used))
        lg = style_stats_loss(fo, fs, self.global_layers)
        tl = self.local_targets(fc, fs, key)
        ll = sum(mse(fo[l], tl[l]) for l in self.style_layers)
        aux = {"loss_global": lg, "loss_local": ll}
        total = float(cfg.global_weight) * lg + float(cfg.local_weight) * ll
        if cfg.content_weight:
            aux["loss_content"] = sum(mse(mvn(fo[l]), mvn(fc[l])) for l in self.content_layers)
            total = total + float(cfg.content_weight) * aux["loss_content"]
        if cfg.identity_weight:
            aux["loss_identity"] = mse(self.decode(self.transform(fc, fc, key=key)), content)
            total = total + float(cfg.identity_weight) * aux["loss_identity"]
        if similarity:
            # the cross-image similarity loss: each content paired with the next one of the batch, both stylized
            # with this style; the stylized pair keeps the content pair's pattern of feature similarities
            fc2 = jax.tree.map(lambda x: jnp.roll(x, 1, axis=0), fc)
            fo2 = self.encoder(self.decode(self.transform(fc2, fs, key=key)), self.similarity_layers)
            aux["loss_similarity"] = sum(cross_similarity_loss(fc[l], fc2[l], fo[l], fo2[l])
                                         for l in self.similarity_layers)
            total = total + similarity * aux["loss_similarity"]
        prior, prior_aux = image_priors(out, **prior_weights(cfg))
        return total + prior, aux | prior_aux


def build(cfg: ml_collections.ConfigDict, *, rngs: nnx.Rngs, encoder: VGG19 | None = None) -> AdaAttN:
    """Build an AdaAttN model; ``encoder`` defaults to the cached ImageNet VGG-19."""
    return AdaAttN(encoder if encoder is not None else load_vgg19(padding=cfg.vgg_padding), cfg, rngs=rngs)
