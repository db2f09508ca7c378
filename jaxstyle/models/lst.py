"""LST, learning linear transformations (Li, Liu, Kautz, Yang, CVPR 2019): a 32×32 matrix from feature covariances.

Spec: ``shared/spec/baselines.md`` §3, following the official code: ``cnet``/``snet`` (three zero-padded 3×3 convs
and an FC on the 32×32 covariance of their output) give ``T = T_s · T_c``; the mean-centred content feature is
compressed to 32 channels, transformed by ``T``, uncompressed and shifted by the style mean, then decoded by a
reconstruction decoder. ``layer`` picks the relu3_1 (r31) or relu4_1 (r41) variant.

Training has two stages (``stage``), each a ``train.py`` run: ``"decoder"`` trains the reconstruction decoder
(pixel + feature reconstruction, spec §3.2 [OUR CHOICE]); ``"transform"`` trains the transformation with the
decoder frozen (content + style loss, spec §3.3). Both stages keep every parameter in the checkpoint; the other
part's gradients are stopped, so Adam leaves it exactly as it was.

Because the transform is linear in the (centred, compressed) content feature, a matrix computed once can be reused
for every frame of a video (:meth:`LST.matrix` / ``transform(..., matrix=T)``): ``infer.py --video``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
from flax import nnx

from jaxstyle.losses import image_priors, mse, prior_weights
from jaxstyle.models.base import StyleModel
from jaxstyle.nn.blocks import MirrorDecoder
from jaxstyle.nn.vgg import VGG19, load_vgg19
from jaxstyle.ops.conv import conv3x3
from jaxstyle.ops.norms import valid_mask

STAGES = ("decoder", "transform")
LAYERS = ("relu3_1", "relu4_1")


def default_config() -> ml_collections.ConfigDict:
    """Model hyper-parameters (the trainer's ``config.model``); defaults: the official r41 model."""
    return ml_collections.ConfigDict(dict(
        layer="relu4_1",              # "relu4_1" (r41) | "relu3_1" (r31)
        matrix_size=32,               # m: the transformation is m×m
        stage="transform",            # "decoder" (reconstruction) | "transform" (the LST loss, decoder frozen)
        content_layers=("relu4_1",),  # §3.3: at relu4_1 for both variants
        style_layers=("relu1_1", "relu2_1", "relu3_1", "relu4_1"),
        content_weight=1.0,           # §3.3
        style_weight=0.02,            # §3.3 (summed squared errors of means and Gram matrices / batch)
        recon_pixel_weight=1.0,       # decoder stage: ‖Dec(E(x)) − x‖² (mean)
        recon_feature_weight=1.0,     # decoder stage: ‖E(Dec(E(x))) − E(x)‖² (mean)
        tv_weight=0.0,                # losses.image_priors on the decoded image (either stage) against the
        grid_weight=0.0,              # decoder's checker texture (our choice; 0 = the paper)
        upsample="nearest",
        vgg_padding="reflect",
    ))


class _Conv(nnx.Module):
    """PyTorch ``Conv2d(din, dout, 3, 1, 1)`` (zero padding) or ``Conv2d(din, dout, 1)`` on NHWC."""

    def __init__(self, din: int, dout: int, size: int, *, rngs: nnx.Rngs):
        init = nnx.initializers.lecun_normal()
        self.kernel = nnx.Param(init(rngs.params(), (size, size, din, dout), jnp.float32))
        self.bias = nnx.Param(jnp.zeros((dout,), jnp.float32))
        self.dtype = None  # compute dtype (None: float32; see jaxstyle.nn.precision)

    def __call__(self, x: jax.Array) -> jax.Array:
        k, b = self.kernel[...], self.bias[...]
        if self.dtype is not None:
            x, k, b = x.astype(self.dtype), k.astype(self.dtype), b.astype(self.dtype)
        y = x @ k[0, 0] if k.shape[0] == 1 else conv3x3(x, k, padding="zeros")
        return y + b


class CovarianceNet(nnx.Module):
    """``cnet`` / ``snet``: 3 convs (C → C/2 → C/4 → m; r41: 512 → 256 → 128 → 32), ``O Oᵀ / (h·w)``, FC m² → m².

    ``[B, h, w, C]`` (mean-centred) → ``[B, m, m]``.
    """

    def __init__(self, channels: int, m: int, *, rngs: nnx.Rngs):
        widths = (channels, channels // 2, channels // 4, m)
        self.convs = nnx.List([_Conv(a, b, 3, rngs=rngs) for a, b in zip(widths[:-1], widths[1:])])
        init = nnx.initializers.lecun_normal()
        self.fc_kernel = nnx.Param(init(rngs.params(), (m * m, m * m), jnp.float32))
        self.fc_bias = nnx.Param(jnp.zeros((m * m,), jnp.float32))
        self.m = m

    def __call__(self, x: jax.Array, mask: jax.Array | None = None) -> jax.Array:
        """``mask`` ``[B, h, w, 1]`` (0/1, ones at the top left): the map is the zero-padded top-left part, as if cut
        out (the convolutions see zeros beyond it; the covariance averages inside it)."""
        for i, conv in enumerate(self.convs):
            x = conv(x if mask is None else x * mask)
            if i < len(self.convs) - 1:
                x = jax.nn.relu(x)
        b, h, w, m = x.shape
        n = h * w if mask is None else jnp.sum(mask, axis=(1, 2, 3))[:, None, None]
        o = (x if mask is None else x * mask).reshape(b, h * w, m).astype(jnp.float32)  # statistics in float32
        cov = jnp.einsum("bni,bnj->bij", o, o) / n
        return (cov.reshape(b, m * m) @ self.fc_kernel[...] + self.fc_bias[...]).reshape(b, m, m)


def lst_style_loss(out: jax.Array, style: jax.Array) -> jax.Array:
    """LST's per-layer style loss: ``(‖μ(out) − μ(s)‖² + ‖G(out) − G(s)‖²) / B`` with summed squares and
    ``G(F) = F Fᵀ / (C·h·w)`` (uncentred). ``out``, ``style``: ``[B, h, w, C]`` (sizes may differ)."""

    def stats(f):
        f = f.astype(jnp.float32)
        b, h, w, c = f.shape
        x = f.reshape(b, h * w, c)
        return x.mean(1), jnp.einsum("bni,bnj->bij", x, x) / (c * h * w)

    (mo, go), (ms, gs) = stats(out), stats(style)
    return (jnp.sum(jnp.square(mo - ms)) + jnp.sum(jnp.square(go - gs))) / out.shape[0]


class LST(StyleModel):
    """``model(content, style, alpha=1.0)``: ``[B, H, W, 3]`` × ``[B, Hs, Ws, 3]`` → ``[B, H, W, 3]``."""

    def __init__(self, encoder: VGG19, cfg: ml_collections.ConfigDict, *, rngs: nnx.Rngs):
        if cfg.layer not in LAYERS:
            raise ValueError(f"lst: layer={cfg.layer!r}: use 'relu4_1' (r41) or 'relu3_1' (r31)")
        if cfg.stage not in STAGES:
            raise ValueError(f"lst: stage={cfg.stage!r}: use 'decoder' or 'transform'")
        self.encoder = encoder
        self.cfg = cfg
        self.layer = self.feature_layer = cfg.layer
        c = encoder.channels(cfg.layer)
        m = int(cfg.matrix_size)
        self.snet = CovarianceNet(c, m, rngs=rngs)
        self.cnet = CovarianceNet(c, m, rngs=rngs)
        self.compress = _Conv(c, m, 1, rngs=rngs)
        self.unzip = _Conv(m, c, 1, rngs=rngs)
        top = 4 if cfg.layer == "relu4_1" else 3
        widths = tuple(encoder.channels(f"relu{b}_1") for b in range(top, 0, -1))
        self.decoder = MirrorDecoder(widths, upsample=cfg.upsample, rngs=rngs)
        self.style_layers = tuple(cfg.style_layers)

    def check_inputs(self, content_shape, style_shape) -> None:
        """One ``ValueError`` for a shape this model cannot take (before any heavy work)."""
        f = 8 if self.layer == "relu4_1" else 4
        for name, shape in (("content", content_shape), ("style", style_shape)):
            if len(shape) != 4 or shape[-1] != 3:
                raise ValueError(f"lst: {name} must be [B, H, W, 3] RGB, got shape {tuple(shape)}")
            if min(shape[1:3]) < 2 * f:
                raise ValueError(f"lst: {name} is {shape[1]}x{shape[2]}; each side must be at least {2 * f} px for "
                                 f"the {self.layer} variant (2x2 feature positions); resize it")

    def encode(self, x: jax.Array, valid: jax.Array | None = None) -> jax.Array:
        """``[B, H, W, 3] -> [B, H/f, W/f, C]`` at ``layer`` (f = 8, C = 512 for r41; f = 4, C = 256 for r31;
        ``valid``: see ``VGG19``)."""
        return self.encoder(x, (self.layer,), valid=valid)[self.layer]

    def matrix(self, fc: jax.Array, fs: jax.Array) -> jax.Array:
        """``T = T_s · T_c`` ``[B, m, m]`` from the centred features."""
        cf = fc - jnp.mean(fc, axis=(1, 2), keepdims=True)
        sf = fs - jnp.mean(fs, axis=(1, 2), keepdims=True)
        return jnp.einsum("bij,bjk->bik", self.snet(sf), self.cnet(cf))

    def transform(self, fc: jax.Array, fs: jax.Array, alpha: float | jax.Array = 1.0, *,
                  matrix: jax.Array | None = None) -> jax.Array:
        """``α·(unzip(T · compress(F_c − μ_c)) + μ_s) + (1 − α)·F_c``; ``matrix`` reuses a fixed ``T`` (video)."""
        return self.transform_prepared(fc, self.prepare_style(fs), alpha, matrix=matrix)

    masked = True

    def prepare_style(self, fs: jax.Array) -> dict[str, jax.Array]:
        """The style's half of the transform: ``{"ts": T_s [1, m, m], "mean": μ_s [1, 1, 1, C]}``."""
        fs = fs.astype(jnp.float32)
        mean = jnp.mean(fs, axis=(1, 2), keepdims=True)
        return {"ts": self.snet(fs - mean), "mean": mean}

    def _centred(self, fc: jax.Array, valid: jax.Array | None) -> tuple[jax.Array, jax.Array | None]:
        fc = fc.astype(jnp.float32)
        mask = None if valid is None else valid_mask(valid, fc.shape[1:3], 8 if self.layer == "relu4_1" else 4)
        if mask is None:
            return fc - jnp.mean(fc, axis=(1, 2), keepdims=True), None
        return fc - jnp.sum(fc * mask, axis=(1, 2), keepdims=True) / jnp.sum(mask, axis=(1, 2), keepdims=True), mask

    def content_state(self, fc: jax.Array, valid: jax.Array | None = None) -> dict[str, jax.Array]:
        """The content's half of the transform, ``{"tc": T_c [B, m, m]}`` (inside ``valid``)."""
        return {"tc": self.cnet(*self._centred(fc, valid))}

    def transform_prepared(self, fc: jax.Array, style: dict[str, jax.Array], alpha: float | jax.Array = 1.0,
                           valid: jax.Array | None = None, *, matrix: jax.Array | None = None,
                           state: dict[str, jax.Array] | None = None) -> jax.Array:
        """:meth:`transform` from :meth:`prepare_style`; the content's mean and ``T_c`` are taken inside ``valid``;
        ``matrix`` ``[B, m, m]`` replaces ``T_s · T_c`` and ``state`` (:meth:`content_state`) ``T_c``: a fixed
        transform, e.g. a video's first frame's."""
        fc = fc.astype(jnp.float32)
        cf, mask = self._centred(fc, valid)
        if matrix is None:
            tc = self.cnet(cf, mask) if state is None else state["tc"]
            matrix = jnp.einsum("bij,bjk->bik", jnp.broadcast_to(style["ts"], (fc.shape[0], *style["ts"].shape[1:])),
                                tc)
        z = jnp.einsum("bij,bhwj->bhwi", matrix, self.compress(cf))
        return alpha * (self.unzip(z) + style["mean"]) + (1.0 - alpha) * fc

    def optimize_objective(self) -> tuple[tuple[str, ...], float, float]:
        """The mean/std style loss with AdaIN's weights (1, 10): LST's Gram loss needs its own scale."""
        return self.style_layers, 1.0, 10.0

    def __call__(self, content: jax.Array, style: jax.Array, alpha: float | jax.Array = 1.0) -> jax.Array:
        self.check_inputs(content.shape, style.shape)
        return self.decode(self.transform(self.encode(content), self.encode(style), alpha))

    def _frozen_decode(self, t: jax.Array) -> jax.Array:
        graphdef, state = nnx.split(self.decoder)
        return nnx.merge(graphdef, jax.lax.stop_gradient(state))(t)

    def loss(self, content: jax.Array, style: jax.Array, *, key: jax.Array | None = None,
             ) -> tuple[jax.Array, dict[str, jax.Array]]:
        """The loss of ``stage``; ``key`` is unused.

        Returns:
          decoder stage: ``(loss, {"loss_pixel", "loss_feature"})``; transform stage:
          ``(loss, {"loss_content", "loss_style"})``; plus ``"loss_tv"`` / ``"loss_grid"`` of
          :func:`jaxstyle.losses.image_priors` on the decoded image where weighted; float32 scalars.
        """
        cfg = self.cfg
        self.check_inputs(content.shape, style.shape)
        priors = prior_weights(cfg)
        if cfg.stage == "decoder":
            fc = jax.lax.stop_gradient(self.encode(content))
            rec = self.decoder(fc)
            lp, lf = mse(rec, content), mse(self.encode(rec), fc)
            prior, prior_aux = image_priors(rec, **priors)
            return (float(cfg.recon_pixel_weight) * lp + float(cfg.recon_feature_weight) * lf + prior,
                    {"loss_pixel": lp, "loss_feature": lf} | prior_aux)
        layers = tuple(dict.fromkeys(self.style_layers + tuple(cfg.content_layers) + (self.layer,)))
        fc_all, fs_all = self.encoder(content, layers), self.encoder(style, layers)
        out = self._frozen_decode(self.transform(fc_all[self.layer], fs_all[self.layer]))
        fo = self.encoder(out, layers)
        lc = sum(mse(fo[l], fc_all[l]) for l in cfg.content_layers)
        ls = sum(lst_style_loss(fo[l], fs_all[l]) for l in self.style_layers)
        prior, prior_aux = image_priors(out, **priors)
        return (float(cfg.content_weight) * lc + float(cfg.style_weight) * ls + prior,
                {"loss_content": lc, "loss_style": ls} | prior_aux)


def build(cfg: ml_collections.ConfigDict, *, rngs: nnx.Rngs, encoder: VGG19 | None = None) -> LST:
    """Build an LST model; ``encoder`` defaults to the cached ImageNet VGG-19."""
    return LST(encoder if encoder is not None else load_vgg19(padding=cfg.vgg_padding), cfg, rngs=rngs)
