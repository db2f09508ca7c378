"""Style Kernel (Xu, Long, Nie, CVPR 2023, "Learning Dynamic Style Kernels"): per-pixel convolution kernels generated
from a gated content→style attention, applied to the grouped and shuffled content feature at relu4_1.

Spec: ``shared/spec/baselines.md`` §4 (the concrete design, §4.1, is the project's own choice; every choice is a key
of :func:`default_config`). Pipeline, all at relu4_1 (``C = 512``, ``[B, h, w, C]``):

* **SAE**: ``Q = W_q mvn(Z_c)``, ``K = W_k mvn(Z_s)``, ``V = W_v Z_s`` (1×1 convs), ``A = softmax(QKᵀ/√d)`` over
  style positions, computed ``query_block`` content positions at a time (memory ``O(block · N_s)``), over at most
  ``max_sample`` style positions (a fixed-size random subset above it).
* **CGM**: ``t_i = sigmoid(w_tᵀ Z_c(i) + b_t) · max_j A_ij``, ``Â_ij ∝ A_ij · sigmoid(κ (A_ij − t_i))`` (learnable
  κ), ``Z_cs = Â V``.
* **Kernel generation**: ``conv3×3(C→hidden) + ReLU → conv1×1(hidden → G·K² + G)``: per pixel a K×K kernel and a
  bias for each of G channel groups, shared by the group's channels; identity-tap init.
* **GS + dynamic conv**: ``mvn(Z_c)`` (or ``AdaIN(Z_c, Z_s)``: ``kernel_input``, our choice) channel-shuffled
  (ShuffleNet), convolved per pixel with its kernels (:func:`dynamic_conv`, one einsum over reflection-padded
  patches), optionally modulated per channel (``channel_modulation``, our choice: the group biases alone let a style
  set only G of the C channel means), then a 1×1 conv ``C → C`` (initialised to undo the shuffle, so at step 0 the
  transform is close to its input).
* Decoder: the AdaIN mirror decoder. Losses: SANet's (content, mean/std style, two identity losses).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from flax import nnx

from jaxstyle.losses import image_priors, mse, prior_weights, style_stats_loss
from jaxstyle.models.base import StyleModel
from jaxstyle.nn.blocks import Conv1x1, MirrorDecoder, ReflectConv
from jaxstyle.nn.vgg import RELU_LAYERS, VGG19, load_vgg19
from jaxstyle.ops.attention import map_query_blocks, sample_positions
from jaxstyle.ops.norms import adain, mvn

FEATURE_LAYER = "relu4_1"
LEVELS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
Features = dict[str, jax.Array]


def default_config() -> ml_collections.ConfigDict:
    """Model hyper-parameters (the trainer's ``config.model``); the defaults are spec §4.1's."""
    return ml_collections.ConfigDict(dict(
        # --- SAE (style alignment encoding) ---
        attn_dim=512,                 # d: query/key width of the 1x1 projections; logits scaled by 1/sqrt(d)
        query_block=4096,             # content positions per attention block (memory O(block * N_s); same result)
        max_sample=128 * 128,         # style positions attended to at most (a 1024 px style at relu4_1); above it a
                                      # fixed-size random subset (skipped when N_s <= max_sample)
        sample_seed=0,                # the subset's seed at inference; loss() draws it from the step's key
        attention_remat=False,        # recompute each block's attention in the backward pass (training memory
                                      # O(block * N_s) instead of O(N_c * N_s); slower)
        # --- CGM (content-based gating modulation) ---
        gate_input="content",         # what the threshold's 1x1 conv sees: "content" (Z_c, spec) | "mvn" (mvn(Z_c))
        gate_bias_init=0.0,           # b_t at init (weights w_t start at 0): t_i = sigmoid(b_t) * max_j A_ij
        kappa_init=50.0,              # κ, the gate's learnable sharpness
        # --- style kernel generation ---
        kernel_size=3,                # K (odd): taps of each per-pixel kernel
        groups=16,                    # G: channel groups (kernels shared within a group; also the shuffle's groups)
        kernel_hidden=256,            # width of the generator's 3x3 reflection-padded conv (+ ReLU)
        kernel_init_std=1e-3,         # N(0, std) init of the generator's 1x1 output conv
        identity_init=True,           # centre tap starts at 1 (softmax: logit for weight 0.999), others 0: the
                                      # dynamic conv starts as the identity
        tap_norm="none",              # "none" (unnormalised taps, spec default) | "softmax" (over the K*K taps)
        channel_modulation="none",    # per-pixel, per-channel terms from the generator's hidden layer (a zero-init
                                      # 1x1 conv), applied to the dynamic conv's output: "none" (spec: only the G
                                      # group biases, so the style sets 16 of 512 channel means) | "bias" (+ b_p,c)
                                      # | "affine" (y * (1 + s_p,c) + b_p,c: per-channel means and spreads)
        # --- GS (grouping + channel shuffle) and the output projection ---
        kernel_input="mvn",           # what the kernels convolve: "mvn" (mvn(Z_c), spec §4.1) | "adain" (AdaIN(Z_c,
                                      # Z_s): the style's global statistics first, so with identity kernels, the
                                      # unshuffle init and AdaIN's decoder the model starts as AdaIN)
        shuffle=True,                 # ShuffleNet channel shuffle of the kernels' input over `groups` before the
                                      # dynamic conv
        out_init="unshuffle",         # 1x1 conv C->C after the dynamic conv: "unshuffle" (the permutation that undoes
                                      # GS, zero bias: transform ~ the kernels' input at step 0) | "lecun" (random)
        # --- losses (SANet's weights) ---
        content_layers=("relu4_1", "relu5_1"),  # L_c: MSE of mvn features
        style_layers=LEVELS,          # L_s: mean/std loss
        identity_layers=LEVELS,       # L_id2: feature MSE of model(c, c) vs c and model(s, s) vs s
        content_weight=1.0,           # λ_c
        style_weight=3.0,             # λ_s
        identity_pixel_weight=50.0,   # λ_id1 (pixel MSE of model(c, c) vs c and model(s, s) vs s)
        identity_feature_weight=1.0,  # λ_id2
        tv_weight=0.0,                # losses.image_priors on the stylized output against the decoder's checker
        grid_weight=0.0,              # texture (our choice; 0 = the paper)
        identity_samples=0,           # the identity passes run on the batch's first n samples (0 = all): cheaper
                                      # steps (the cpu config's 1 of 4 halves the decoded batch); same losses
        # --- decoder / encoder ---
        upsample="nearest",           # MirrorDecoder upsampling: "nearest" | "bilinear"
        vgg_padding="reflect",
    ))


# ----------------------------------------------------------------------------------------------------------------
# pure functions (no parameters)
# ----------------------------------------------------------------------------------------------------------------


def shuffle_permutation(channels: int, groups: int) -> np.ndarray:
    """``perm`` with ``channel_shuffle(x)[..., p] == x[..., perm[p]]``: ``arange(C).reshape(G, C/G).T.ravel()``."""
    if groups < 1 or channels % groups:
        raise ValueError(f"groups={groups} must divide the {channels} channels")
    return np.arange(channels).reshape(groups, channels // groups).T.reshape(-1)


def channel_shuffle(x: jax.Array, groups: int) -> jax.Array:
    """ShuffleNet channel shuffle on the last axis: ``[..., C]`` viewed as ``(G, C/G)``, transposed, flattened.

    Output channel ``i·G + g`` is input channel ``g·(C/G) + i``, so each group of ``C/G`` consecutive output
    channels takes channels from every input group.
    """
    *lead, c = x.shape
    if groups < 1 or c % groups:
        raise ValueError(f"channel_shuffle: groups={groups} must divide the {c} channels")
    return jnp.swapaxes(x.reshape(*lead, groups, c // groups), -1, -2).reshape(*lead, c)


def unfold_patches(x: jax.Array, kernel_size: int, padding: str = "reflect") -> jax.Array:
    """The ``K×K`` neighbourhood of every position: ``[B, h, w, C] -> [B, h, w, K², C]``.

    Tap ``t = dy·K + dx`` reads ``x[p + (dy − K//2, dx − K//2)]`` of the padded map (``"reflect"`` or ``"zeros"``).
    """
    if kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"kernel_size={kernel_size}: must be a positive odd number")
    b, h, w, c = x.shape
    r = kernel_size // 2
    if padding == "reflect" and r >= min(h, w):
        raise ValueError(f"unfold_patches: a {h}x{w} map is too small for reflection padding by {r}")
    xp = jnp.pad(x, ((0, 0), (r, r), (r, r), (0, 0)), mode="reflect" if padding == "reflect" else "constant")
    taps = [xp[:, dy:dy + h, dx:dx + w] for dy in range(kernel_size) for dx in range(kernel_size)]
    return jnp.stack(taps, axis=3)


def dynamic_conv(x: jax.Array, kernels: jax.Array, bias: jax.Array | None = None, *,
                 padding: str = "reflect") -> jax.Array:
    """Per-pixel grouped convolution: ``y(p, c) = Σ_t kernels[p, g(c), t] · x(p + t, c) + bias[p, g(c)]``.

    Channel ``c`` belongs to group ``g(c) = c // (C/G)``; every channel of a group uses the group's kernel at that
    pixel (involution-style). One einsum over the unfolded patches.

    Args:
      x: ``[B, h, w, C]``.
      kernels: ``[B, h, w, G, K²]`` (``K`` odd, taps ordered as :func:`unfold_patches`).
      bias: optional ``[B, h, w, G]``.
      padding: ``"reflect"`` (default) or ``"zeros"``.

    Returns:
      ``[B, h, w, C]`` float32.
    """
    b, h, w, c = x.shape
    g, k2 = kernels.shape[-2:]
    k = math.isqrt(k2)
    if k * k != k2 or kernels.shape[:3] != (b, h, w) or c % g:
        raise ValueError(f"dynamic_conv: kernels {tuple(kernels.shape)} do not fit x {tuple(x.shape)} "
                         "(want [B, h, w, G, K*K] with G dividing C)")
    patches = unfold_patches(x.astype(jnp.float32), k, padding).reshape(b, h, w, k2, g, c // g)
    y = jnp.einsum("bhwtgc,bhwgt->bhwgc", patches, kernels.astype(jnp.float32))
    if bias is not None:
        y = y + bias.astype(jnp.float32)[..., None]
    return y.reshape(b, h, w, c)


def style_subset(k: jax.Array, v: jax.Array, cap: int, key: jax.Array) -> tuple[jax.Array, jax.Array]:
    """At most ``cap`` style positions: ``k [B, N_s, D]``, ``v [B, N_s, C]`` returned as is when ``N_s <= cap``,
    else the same random ``cap`` positions (drawn from ``key``) of every batch element."""
    idx = sample_positions(key, k.shape[1], int(cap))
    if idx is None:
        return k, v
    return k[:, idx], v[:, idx]


def gated_attention(q: jax.Array, k: jax.Array, v: jax.Array, threshold: jax.Array, kappa: jax.Array | float, *,
                    block: int = 4096, scale: float | None = None, remat: bool = False) -> jax.Array:
    """SAE attention with CGM gating, ``block`` queries at a time.

    ``A = softmax_j(q_i · k_j · scale)``, ``t_i = threshold_i · max_j A_ij``, ``Â_ij = A_ij · sigmoid(κ (A_ij − t_i))``
    renormalised over ``j``; returns ``Â v``. Every step is per query row, so the result does not depend on
    ``block``; peak memory is ``O(block · N_s)`` per batch element.

    Args:
      q: ``[B, N_c, D]``; k: ``[B, N_s, D]``; v: ``[B, N_s, C]``.
      threshold: ``[B, N_c]`` fractions in (0, 1) (the dynamic threshold relative to the row maximum).
      kappa: scalar gate sharpness κ.
      block: queries per block.
      scale: logit scale; default ``1/sqrt(D)``.
      remat: recompute each block in the backward pass (``jax.checkpoint``).

    Returns:
      ``[B, N_c, C]`` float32.
    """
    d = q.shape[-1]
    scale = d ** -0.5 if scale is None else float(scale)
    kappa = jnp.asarray(kappa, jnp.float32)
    k, v = k.astype(jnp.float32), v.astype(jnp.float32)

    def one(qi: jax.Array, ti: jax.Array) -> jax.Array:
        logits = jnp.einsum("bqd,bkd->bqk", qi.astype(jnp.float32), k) * scale
        a = jax.nn.softmax(logits, axis=-1)
        t = ti[..., None] * jnp.max(a, axis=-1, keepdims=True)
        gated = a * jax.nn.sigmoid(kappa * (a - t))
        gated = gated / jnp.sum(gated, axis=-1, keepdims=True)  # >= max_j A_ij / 2 > 0: no epsilon needed
        return jnp.einsum("bqk,bkc->bqc", gated, v)

    return map_query_blocks(jax.checkpoint(one) if remat else one, block, q, threshold)


def _feature_side(side: int, layer: str, ceil_pool: bool) -> int:
    """Spatial size of ``layer`` for an image side (VGG-19: one 2x2 pool per block after the first)."""
    for _ in range(int(layer[4]) - 1):
        side = -(-side // 2) if ceil_pool else side // 2
    return side


# ----------------------------------------------------------------------------------------------------------------
# layers and the model
# ----------------------------------------------------------------------------------------------------------------


class StyleKernel(StyleModel):
    """``model(content, style, alpha)``: ``[B, H, W, 3]`` × ``[B or 1, Hs, Ws, 3]`` → ``[B, H, W, 3]`` (sides multiples
    of 8, at least 16 px)."""

    feature_layer = FEATURE_LAYER

    def __init__(self, encoder: VGG19, cfg: ml_collections.ConfigDict, *, rngs: nnx.Rngs):
        c = encoder.channels(FEATURE_LAYER)
        g, k = int(cfg.groups), int(cfg.kernel_size)
        if k < 1 or k % 2 == 0:
            raise ValueError(f"style_kernel: kernel_size={k} must be a positive odd number (3, 5, ...)")
        if g < 1 or c % g:
            raise ValueError(f"style_kernel: groups={g} must divide the {c} channels of {FEATURE_LAYER}")
        for name, value, allowed in (("tap_norm", cfg.tap_norm, ("none", "softmax")),
                                     ("out_init", cfg.out_init, ("unshuffle", "lecun")),
                                     ("gate_input", cfg.gate_input, ("content", "mvn")),
                                     ("kernel_input", cfg.kernel_input, ("mvn", "adain")),
                                     ("channel_modulation", cfg.channel_modulation, ("none", "bias", "affine"))):
            if value not in allowed:
                raise ValueError(f"style_kernel: {name}={value!r}; use one of {', '.join(map(repr, allowed))}")
        if int(cfg.identity_samples) < 0:
            raise ValueError(f"style_kernel: identity_samples={cfg.identity_samples} must be >= 0 (0 = every sample)")
        unknown = [l for l in (*cfg.style_layers, *cfg.content_layers, *cfg.identity_layers) if l not in RELU_LAYERS]
        if unknown:
            raise ValueError(f"style_kernel: unknown VGG-19 layer(s) {unknown}; choose from {', '.join(RELU_LAYERS)}")
        self.encoder = encoder
        d = int(cfg.attn_dim)
        # SAE
        self.query_proj = Conv1x1(c, d, rngs=rngs)
        self.key_proj = Conv1x1(c, d, rngs=rngs)
        self.value_proj = Conv1x1(c, c, rngs=rngs)
        # CGM: w_t = 0, b_t = gate_bias_init
        self.gate = Conv1x1(c, 1, rngs=rngs)
        self.gate.kernel[...] = jnp.zeros_like(self.gate.kernel[...])
        self.gate.bias[...] = jnp.full((1,), float(cfg.gate_bias_init), jnp.float32)
        self.kappa = nnx.Param(jnp.asarray(float(cfg.kappa_init), jnp.float32))
        # kernel generation
        self.kernel_hidden = ReflectConv(c, int(cfg.kernel_hidden), rngs=rngs)
        self.kernel_out = Conv1x1(int(cfg.kernel_hidden), g * k * k + g, rngs=rngs, std=float(cfg.kernel_init_std))
        if cfg.identity_init:
            centre = 1.0 if cfg.tap_norm == "none" else math.log(999.0 * max(k * k - 1, 1))  # softmax weight 0.999
            bias = np.zeros((g * k * k + g,), np.float32)
            bias[np.arange(g) * k * k + (k * k) // 2] = centre
            self.kernel_out.bias[...] = jnp.asarray(bias)
        self.channel_modulation = str(cfg.channel_modulation)
        self.modulation = nnx.data(None)
        if self.channel_modulation != "none":  # zero init: the start is the spec's model
            n = c * (2 if self.channel_modulation == "affine" else 1)
            self.modulation = Conv1x1(int(cfg.kernel_hidden), n, rngs=rngs, std=0.0)
        # output projection
        self.out = Conv1x1(c, c, rngs=rngs)
        if cfg.out_init == "unshuffle":
            perm = shuffle_permutation(c, g) if cfg.shuffle else np.arange(c)
            w = np.zeros((c, c), np.float32)
            w[np.arange(c), perm] = 1.0  # out[..., perm[p]] = y[..., p]: undoes channel_shuffle
            self.out.kernel[...] = jnp.asarray(w)
        widths = tuple(encoder.channels(f"relu{b}_1") for b in (4, 3, 2, 1))
        self.decoder = MirrorDecoder(widths, upsample=cfg.upsample, rngs=rngs)

        self.groups, self.kernel_size = g, k
        self.tap_norm = str(cfg.tap_norm)
        self.shuffle = bool(cfg.shuffle)
        self.kernel_input = str(cfg.kernel_input)
        self.gate_on_mvn = cfg.gate_input == "mvn"
        self.query_block = int(cfg.query_block)
        self.max_sample = int(cfg.max_sample)
        self.sample_seed = int(cfg.sample_seed)
        self.attention_remat = bool(cfg.attention_remat)
        self.style_layers = tuple(cfg.style_layers)
        self.content_layers = tuple(cfg.content_layers)
        self.identity_layers = tuple(cfg.identity_layers)
        self.content_weight = float(cfg.content_weight)
        self.style_weight = float(cfg.style_weight)
        self.identity_pixel_weight = float(cfg.identity_pixel_weight)
        self.identity_feature_weight = float(cfg.identity_feature_weight)
        self.priors = prior_weights(cfg)
        self.identity_samples = int(cfg.identity_samples)

    # --- input checks -------------------------------------------------------------------------------------------

    def check_inputs(self, content_shape: tuple[int, ...], style_shape: tuple[int, ...], *,
                     for_loss: bool = False) -> None:
        """One ``ValueError`` for a shape this model cannot take (before any heavy work).

        Each input must be ``[B, H, W, 3]`` with H, W multiples of 8 and at least 16 px (relu4_1 needs 2x2 positions;
        the content at least ``8·max(2, K//2 + 1)`` px for the K×K reflection padding); the style batch is 1 or the
        content's. With
        ``for_loss``, the deepest loss layer must also have at least 2 positions (its mean/std).
        """
        for name, shape in (("content", content_shape), ("style", style_shape)):
            shape = tuple(shape)
            min_side = 8 * max(2, self.kernel_size // 2 + 1) if name == "content" else 16
            if len(shape) != 4 or shape[-1] != 3:
                raise ValueError(f"style_kernel: {name} must be a batch of RGB images [B, H, W, 3], got shape "
                                 f"{shape}; add a batch axis (x[None]) or convert it to RGB")
            if shape[1] % 8 or shape[2] % 8:
                raise ValueError(f"style_kernel: {name} is {shape[1]}x{shape[2]}; each side must be a multiple of 8 "
                                 f"(relu4_1 is 1/8 of the image): pad or crop it to "
                                 f"{shape[1] // 8 * 8 or 8}x{shape[2] // 8 * 8 or 8} or "
                                 f"{-(-shape[1] // 8) * 8}x{-(-shape[2] // 8) * 8}")
            if min(shape[1:3]) < min_side:
                raise ValueError(f"style_kernel: {name} is {shape[1]}x{shape[2]}, too small: each side must be at "
                                 f"least {min_side} px (relu4_1 needs 2x2 positions, and the content a "
                                 f"{self.kernel_size}x{self.kernel_size} reflection-padded neighbourhood); resize it")
            if for_loss:
                layers = (*self.style_layers, *self.content_layers, *self.identity_layers)
                deepest = max(layers, key=RELU_LAYERS.index)
                ceil = bool(self.encoder.ceil_pool)
                hw = (_feature_side(shape[1], deepest, ceil), _feature_side(shape[2], deepest, ceil))
                if hw[0] * hw[1] < 2:
                    raise ValueError(f"style_kernel: {name} is {shape[1]}x{shape[2]}, too small for the loss: "
                                     f"{deepest} would be {hw[0]}x{hw[1]} (its mean/std needs 2 positions); use "
                                     "crops of at least 32 px or drop relu5_1 from the loss layers")
        if style_shape[0] not in (1, content_shape[0]):
            raise ValueError(f"style_kernel: style batch {style_shape[0]} must be 1 or the content batch "
                             f"{content_shape[0]}")

    # --- stages -------------------------------------------------------------------------------------------------

    def encode(self, x: jax.Array) -> jax.Array:
        """``[B, H, W, 3] -> [B, H/8, W/8, 512]`` relu4_1 features."""
        return self.encoder(x, (FEATURE_LAYER,))[FEATURE_LAYER]

    def kernels(self, zcs: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array | None]:
        """Style kernel generation: ``Z_cs [B, h, w, C]`` → ``(kernels [B, h, w, G, K²], bias [B, h, w, G],
        modulation)``, the last ``[B, h, w, C]`` (``"bias"``), ``[B, h, w, 2C]`` (``"affine"``: scale, then shift)
        or ``None`` (``channel_modulation="none"``)."""
        b, h, w, _ = zcs.shape
        g, k2 = self.groups, self.kernel_size ** 2
        hidden = jax.nn.relu(self.kernel_hidden(zcs))
        raw = self.kernel_out(hidden)
        taps, bias = raw[..., : g * k2].reshape(b, h, w, g, k2), raw[..., g * k2:]
        if self.tap_norm == "softmax":
            taps = jax.nn.softmax(taps, axis=-1)
        return taps, bias, None if self.modulation is None else self.modulation(hidden)

    def align(self, fc: jax.Array, fs: jax.Array, *, key: jax.Array | None = None) -> jax.Array:
        """SAE + CGM: ``Z_c [B, h, w, C]``, ``Z_s [B, hs, ws, C]`` → ``Z_cs [B, h, w, C]``.

        Args:
          key: draws the style subset when ``hs·ws > max_sample``; default ``sample_seed``.
        """
        b, h, w, c = fc.shape
        nc = mvn(fc)
        q = self.query_proj(nc).reshape(b, h * w, -1)
        k = self.key_proj(mvn(fs)).reshape(b, -1, q.shape[-1])
        v = self.value_proj(fs).reshape(b, -1, c)
        k, v = style_subset(k, v, self.max_sample, jax.random.key(self.sample_seed) if key is None else key)
        t = jax.nn.sigmoid(self.gate(nc if self.gate_on_mvn else fc)).reshape(b, h * w)
        zcs = gated_attention(q, k, v, t, self.kappa[...], block=self.query_block, remat=self.attention_remat)
        return zcs.reshape(b, h, w, c)

    def transform(self, fc: jax.Array, fs: jax.Array, alpha: float | jax.Array = 1.0, *,
                  key: jax.Array | None = None) -> jax.Array:
        """The decoder's input ``α·out + (1 − α)·Z_c``, ``[B, h, w, 512]`` float32, where
        ``out = W_o · dynconv(GS(mvn(Z_c)); kernels(align(Z_c, Z_s)))`` (``AdaIN(Z_c, Z_s)`` in place of
        ``mvn(Z_c)`` with ``kernel_input="adain"``), the dynamic conv's output modulated per channel first where
        ``channel_modulation`` asks.

        Args:
          fc: ``[B, h, w, C]`` content relu4_1; fs: ``[B or 1, hs, ws, C]`` style relu4_1 (any size, h, w, hs, ws
            >= 2 for K = 3).
          key: see :meth:`align`.
        """
        fc, fs = fc.astype(jnp.float32), fs.astype(jnp.float32)
        if fs.shape[0] != fc.shape[0]:
            fs = jnp.broadcast_to(fs, (fc.shape[0], *fs.shape[1:]))
        taps, bias, mod = self.kernels(self.align(fc, fs, key=key))
        x = mvn(fc) if self.kernel_input == "mvn" else adain(fc, fs)
        if self.shuffle:
            x = channel_shuffle(x, self.groups)
        y = dynamic_conv(x, taps, bias, padding="reflect")
        if self.channel_modulation == "affine":
            scale, shift = jnp.split(mod, 2, axis=-1)
            y = y * (1.0 + scale) + shift
        elif self.channel_modulation == "bias":
            y = y + mod
        out = self.out(y)
        return alpha * out + (1.0 - alpha) * fc

    def __call__(self, content: jax.Array, style: jax.Array, alpha: float | jax.Array = 1.0, *,
                 key: jax.Array | None = None) -> jax.Array:
        self.check_inputs(content.shape, style.shape)
        return self.decode(self.transform(self.encode(content), self.encode(style), alpha, key=key))

    # --- training -----------------------------------------------------------------------------------------------

    def loss(self, content: jax.Array, style: jax.Array, *, key: jax.Array | None = None,
             ) -> tuple[jax.Array, dict[str, jax.Array]]:
        """``λ_c·L_c + λ_s·L_s + λ_id1·L_id1 + λ_id2·L_id2`` (SANet's losses and weights).

        ``L_c = Σ_{content_layers} MSE(mvn φ(I_cs), mvn φ(I_c))``; ``L_s`` the mean/std loss over ``style_layers``;
        ``L_id1 = MSE(I_cc, I_c) + MSE(I_ss, I_s)``; ``L_id2 = Σ_{identity_layers} MSE(φ(I_cc), φ(I_c)) +
        MSE(φ(I_ss), φ(I_s))`` with ``I_xy = model(x, y)``, the identity terms over the batch's first
        ``identity_samples`` samples (0 = all). Same-shaped content and style run as one batch (the same
        numbers). ``key`` draws the style subsets (only where a style exceeds ``max_sample``).

        Args:
          content: ``[B, H, W, 3]``; style: ``[B or 1, Hs, Ws, 3]``.

        Returns:
          ``(loss, {"loss_content", "loss_style", "loss_id1", "loss_id2"[, "loss_tv", "loss_grid"]})``, float32
          scalars (batch means); the image priors (:func:`jaxstyle.losses.image_priors`) act on ``I_cs``.
        """
        self.check_inputs(content.shape, style.shape, for_loss=True)
        b = content.shape[0]
        if style.shape[0] != b:
            style = jnp.broadcast_to(style, (b, *style.shape[1:]))
        layers = tuple(l for l in RELU_LAYERS if l in {*self.style_layers, *self.content_layers,
                                                        *self.identity_layers, FEATURE_LAYER})
        same = content.shape == style.shape

        n = min(self.identity_samples or b, b)

        def split(feats: Features, sizes: tuple[int, ...]) -> list[Features]:
            ends = np.cumsum(sizes)
            return [{l: f[e - k:e] for l, f in feats.items()} for k, e in zip(sizes, ends)]

        if same:
            fc, fs = split(self.encoder(jnp.concatenate([content, style]), layers), (b, b))
        else:
            fc, fs = self.encoder(content, layers), self.encoder(style, layers)
        c4, s4 = fc[FEATURE_LAYER], fs[FEATURE_LAYER]
        if same:  # (c, s), (c, c), (s, s) as one batch of B + 2n
            t = self.transform(jnp.concatenate([c4, c4[:n], s4[:n]]), jnp.concatenate([s4, c4[:n], s4[:n]]), key=key)
            imgs = self.decode(t)
            fo, fcc, fss = split(self.encoder(imgs, layers), (b, n, n))
            i_cc, i_ss = imgs[b:b + n], imgs[b + n:]
        else:  # I_cs and I_cc have the content's size, I_ss the style's
            t = jnp.concatenate([self.transform(c4, s4, key=key), self.transform(c4[:n], c4[:n], key=key)])
            imgs = self.decode(t)
            fo, fcc = split(self.encoder(imgs, layers), (b, n))
            i_cc = imgs[b:]
            i_ss = self.decode(self.transform(s4[:n], s4[:n], key=key))
            fss = self.encoder(i_ss, layers)
        lc = sum((mse(mvn(fo[l]), mvn(fc[l])) for l in self.content_layers), jnp.zeros((), jnp.float32))
        ls = style_stats_loss(fo, fs, self.style_layers)
        lid1 = mse(i_cc, content[:n]) + mse(i_ss, style[:n])
        lid2 = sum((mse(fcc[l], fc[l][:n]) + mse(fss[l], fs[l][:n]) for l in self.identity_layers),
                   jnp.zeros((), jnp.float32))
        total = (self.content_weight * lc + self.style_weight * ls + self.identity_pixel_weight * lid1
                 + self.identity_feature_weight * lid2)
        prior, prior_aux = image_priors(imgs[:b], **self.priors)
        return total + prior, {"loss_content": lc, "loss_style": ls, "loss_id1": lid1, "loss_id2": lid2} | prior_aux


def build(cfg: ml_collections.ConfigDict, *, rngs: nnx.Rngs, encoder: VGG19 | None = None) -> StyleKernel:
    """Build a Style Kernel model; ``encoder`` defaults to the cached ImageNet VGG-19."""
    return StyleKernel(encoder if encoder is not None else load_vgg19(padding=cfg.vgg_padding), cfg, rngs=rngs)
