"""Implementations of the public entry points (``jaxstyle.stylize``, ``jaxstyle.build_model``)."""

from __future__ import annotations

import functools
import inspect
import os
import warnings
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from flax import nnx

from jaxstyle.nn.precision import model_settings
from jaxstyle.nn.vgg import load_vgg19
from jaxstyle.ops import color
from jaxstyle.ops.resize import pad_to_multiple
from jaxstyle.ops.tiling import tiled_apply
from jaxstyle.params import flat_params, load_params, read_meta, read_npz, set_flat_params
from jaxstyle.registry import get_method, has_pretrained

MIN_SIDE = 16  # relu4_1 is 1/8 of the input; its reflection padding and statistics need >= 2x2 positions
ENCODER_HALO = 64  # px: covers VGG-19's receptive field up to relu4_1 (tiled results match untiled exactly)
DECODER_HALO = 8  # relu4_1 px (64 output px): covers the mirror decoder's receptive field


def build_model(method: str = "adain", config: ml_collections.ConfigDict | None = None, *, seed: int = 0,
                vgg_weights: str | os.PathLike | None = None) -> nnx.Module:
    """Build a (randomly initialised) model of ``method`` with its frozen VGG-19.

    Args:
      method: a registered method name (``jaxstyle.registry.METHODS``).
      config: the model config; defaults to the method's ``default_config()``.
      seed: parameter-initialisation seed.
      vgg_weights: a jaxstyle VGG-19 ``.npz``; default: the cached ImageNet VGG-19 (fetched on first use).
    """
    module = get_method(method)
    cfg = config if config is not None else module.default_config()
    encoder = load_vgg19(vgg_weights, padding=cfg.get("vgg_padding", "reflect"))
    return module.build(cfg, rngs=nnx.Rngs(seed), encoder=encoder)


class _Runner:
    """A loaded model split for jit: whole-image ``run`` and the three stages of the tiled path.

    Every model exposes ``encode(images)``, ``transform(fc, fs, alpha[, k])``, ``decode(t)`` and ``targets(t)``
    (features may be one array or a dict of arrays, e.g. AdaAttN's levels) and ``size_multiple`` (input sides).
    """

    def __init__(self, model: nnx.Module, method: str):
        self.graphdef, self.state = nnx.split(model)
        self.method = method
        params = inspect.signature(type(model).transform).parameters
        self.takes_k, self.takes_matrix, self.takes_labels = "k" in params, "matrix" in params, "labels" in params
        self.size_multiple = int(getattr(model, "size_multiple", 8))
        self.factor = int(model.decoder.factor)  # image px per feature px at the decoder's input
        self.check = getattr(model, "check_inputs", None)
        self.run = jax.jit(self._run, static_argnames=("k", "graph"))
        self.encode = jax.jit(lambda st, x: nnx.merge(self.graphdef, st).encode(x))
        self.transform = jax.jit(self._transform, static_argnames=("k", "graph"))
        self.matrix = jax.jit(lambda st, fc, fs: nnx.merge(self.graphdef, st).matrix(fc, fs))
        self.decode = jax.jit(lambda st, f: nnx.merge(self.graphdef, st).decode(f))
        self._opt_fns: dict = {}

    def _kw(self, k, graph=()):
        """Keyword arguments of graph methods: ``k`` and ``graph``, static ``(name, value)`` pairs."""
        kw = ({} if k is None else {"k": k}) | dict(graph)
        if kw and not self.takes_k:
            raise ValueError(f"{', '.join(f'{n}={v}' for n, v in kw.items())}: applies to graph methods only, "
                             f"not {self.method!r}")
        return kw

    def _run(self, state, content, style, alpha, k=None, graph=()):
        return nnx.merge(self.graphdef, state)(content, style, alpha, **self._kw(k, graph))

    def _transform(self, state, fc, fs, alpha, k=None, matrix=None, labels=None, graph=()):
        kw = self._kw(k, graph) if matrix is None else {"matrix": matrix}
        if labels is not None:
            kw["labels"] = labels
        return nnx.merge(self.graphdef, state).transform(fc, fs, alpha, **kw)

    def need_matrix(self) -> None:
        if not self.takes_matrix:
            raise ValueError(f"a fixed style transform (video mode) needs a linear method such as 'lst', not "
                             f"{self.method!r}")

    def optimize(self, content: jax.Array, t: Any, styles: list[jax.Array], style_weights,
                 *, steps: int, lr: float) -> tuple[jax.Array, jax.Array]:
        """Training-free decoding: Adam on the pixels of ``content`` [B, H, W, 3] so that the VGG features match
        ``model.targets(t)`` and the VGG statistics match the styles' (weighted). Returns ``(image, losses)``."""
        model = nnx.merge(self.graphdef, self.state)
        layers, cw, sw = model.optimize_objective()
        key = (layers, float(cw), float(sw), steps, lr, len(styles))
        if key not in self._opt_fns:
            self._opt_fns[key] = jax.jit(functools.partial(_optimize_image, self.graphdef, layers=layers,
                                                           cw=float(cw), sw=float(sw), steps=steps, lr=lr))
        return self._opt_fns[key](self.state, content, t, styles, jnp.asarray(style_weights, jnp.float32))

    def _tiled(self, fn, x, tile, halo, scale):
        return jnp.concatenate([jnp.asarray(tiled_apply(fn, x[i:i + 1], tile=tile, halo=halo, scale=scale))
                                for i in range(x.shape[0])])

    def encode_images(self, x: jax.Array, tile: int | None = None) -> Any:
        """``[B, H, W, 3] ->`` the model's features; with ``tile``, image by image and tile by tile (exact: the
        halo covers the encoder's receptive field; single-level models only)."""
        if tile is None:
            return self.encode(self.state, x)
        if self.size_multiple != 8:  # multi-level features (AdaAttN): the tiled path splits one map only
            raise ValueError(f"tile: {self.method!r} works on several feature levels at once, which the tiled path "
                             "does not split; stylize without tile")
        return self._tiled(functools.partial(self.encode, self.state), x, tile, ENCODER_HALO, 1 / self.factor)

    def decode_features(self, f: Any, tile: int | None = None) -> jax.Array:
        """Features ``-> [B, H, W, 3]``; with ``tile`` (image px), tile by tile like :meth:`encode_images`."""
        if tile is None:
            return self.decode(self.state, f)
        return self._tiled(functools.partial(self.decode, self.state), f, tile // self.factor, DECODER_HALO,
                           self.factor)


def _config_from_json(method: str, saved: dict) -> ml_collections.ConfigDict:
    """The method's default config updated with a saved (JSON) model config; JSON lists become tuples again."""
    cfg = get_method(method).default_config()
    saved = model_settings(saved)
    unknown = sorted(set(saved) - set(cfg.keys()))
    if unknown:
        raise ValueError(f"saved {method!r} config has keys this version does not know: {unknown}")
    cfg.update({k: tuple(v) if isinstance(v, list) else v for k, v in saved.items()})
    return cfg


def load_pretrained(name_or_path: str | os.PathLike, *, vgg_weights: str | os.PathLike | None = None) -> nnx.Module:
    """A trained model from an exported weights file (``python -m jaxstyle.export``) or a shipped model's name.

    The file records the method and model config, so no config is needed. Returns the NNX module (frozen VGG-19
    encoder + trained parameters); split it with ``nnx.split`` for pure-function use.

    Raises:
      ValueError: unknown name, not an exported file, or parameters that do not fit (every mismatch listed).
    """
    from jaxstyle.registry import pretrained_path

    path = pretrained_path(os.fspath(name_or_path))
    flat, meta = read_npz(path)
    if meta.get("format") != "jaxstyle-weights/1":
        raise ValueError(f"{path}: not an exported jaxstyle model (no metadata); export a training run with "
                         "`python -m jaxstyle.export WORKDIR --out FILE.npz`")
    from jaxstyle.nn.vgg import VGG19
    from jaxstyle.weights.official import split_encoder

    cfg = _config_from_json(meta["method"], meta["model"])
    flat, embedded = split_encoder(flat, meta)
    if embedded is not None:  # a converted official model carries the encoder its decoder was trained on
        encoder = VGG19(*embedded, padding=cfg.get("vgg_padding", "reflect"))
    else:
        encoder = load_vgg19(vgg_weights, padding=cfg.get("vgg_padding", "reflect"))
    want = meta.get("encoder", {}).get("source_sha256")
    have = getattr(encoder, "source_sha256", "")
    if embedded is None and want and have and want != have:
        warnings.warn(f"{path} was trained on VGG-19 weights {want[:12]}…, but the encoder loaded has "
                      f"{have[:12]}…; results may be off", stacklevel=2)
    return _build_loaded(get_method(meta["method"]), cfg, encoder, flat, str(path))


def _build_loaded(module: Any, cfg: ml_collections.ConfigDict, encoder: nnx.Module, flat: dict[str, np.ndarray],
                  source: str) -> nnx.Module:
    """``module.build`` with every parameter from ``flat``: the model is built abstractly (``nnx.eval_shape``: no
    random initialisers compiled and run, ~2.5 s of a cold start) and filled from the file; a model with state
    that is neither a parameter nor the encoder's is built concretely instead."""
    model = nnx.eval_shape(lambda: module.build(cfg, rngs=nnx.Rngs(0), encoder=encoder))
    model.encoder = encoder
    if set(flat) >= set(flat_params(model)):
        rest = nnx.state(model, nnx.Not(nnx.Param))
        if all(not isinstance(x, jax.ShapeDtypeStruct) for x in jax.tree.leaves(rest)):
            return set_flat_params(model, flat, source=source)
    return set_flat_params(module.build(cfg, rngs=nnx.Rngs(0), encoder=encoder), flat, source=source)


def _optimize_image(graphdef, state, content, t, styles, style_weights, *, layers, cw, sw, steps, lr):
    import optax

    from jaxstyle.losses import content_loss, style_stats_loss

    model = nnx.merge(graphdef, state)
    enc, targets = model.encoder, model.targets(t)
    all_layers = tuple(dict.fromkeys(layers + tuple(targets)))
    style_feats = [enc(s, all_layers) for s in styles]

    def loss_fn(x):
        f = enc(x, all_layers)
        ls = sum(style_weights[i] * style_stats_loss(f, fs, layers) for i, fs in enumerate(style_feats))
        return cw * sum(content_loss(f[l], target) for l, target in targets.items()) + sw * ls

    tx = optax.adam(lr)

    def body(carry, _):
        x, opt = carry
        loss, g = jax.value_and_grad(loss_fn)(x)
        upd, opt = tx.update(g, opt, x)
        return (jnp.clip(optax.apply_updates(x, upd), 0.0, 1.0), opt), loss

    (x, _), losses = jax.lax.scan(body, (content, tx.init(content)), None, length=steps)
    return x, losses


@functools.lru_cache(maxsize=4)
def _cached_model(method: str, checkpoint: str | None, vgg_weights: str | None, seed: int) -> _Runner:
    get_method(method)  # an unknown name fails before anything else
    if checkpoint is None:
        if has_pretrained(method):
            return _Runner(load_pretrained(method, vgg_weights=vgg_weights), method)
        warnings.warn(f"no trained {method!r} weights are shipped yet: using an untrained decoder, so the output "
                      "will not look stylized; pass checkpoint=<params .npz>", stacklevel=3)
        return _Runner(build_model(method, seed=seed, vgg_weights=vgg_weights), method)
    saved = read_meta(checkpoint).get("method")
    if saved:  # an exported model: it knows its method and config
        if saved != method:
            raise ValueError(f"{checkpoint} holds a {saved!r} model, not {method!r}; pass method={saved!r}")
        return _Runner(load_pretrained(checkpoint, vgg_weights=vgg_weights), method)
    return _Runner(load_params(build_model(method, seed=seed, vgg_weights=vgg_weights), checkpoint), method)


def _as_images(x: Any, name: str) -> np.ndarray:
    try:
        arr = np.asarray(x)
    except Exception as e:  # ragged nested lists, objects NumPy cannot make an array of
        raise ValueError(f"{name}: not an image array ({type(e).__name__}); pass float RGB [H, W, 3] in [0, 1]") \
            from None
    if arr.dtype == np.uint8:
        raise ValueError(f"{name}: got uint8 pixels; pass float RGB in [0, 1] (divide by 255)")
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)
            or arr.dtype == np.bool_):
        raise ValueError(f"{name}: got an array of {arr.dtype} values; pass float RGB [H, W, 3] in [0, 1]")
    arr = arr.astype(np.float32)
    if arr.ndim == 3:
        arr = arr[None]
    if arr.ndim != 4 or arr.shape[-1] != 3:
        raise ValueError(f"{name}: expected RGB [H, W, 3] or [B, H, W, 3], got shape {arr.shape}")
    if min(arr.shape[1:3]) < MIN_SIDE:
        raise ValueError(f"{name}: {arr.shape[1]}x{arr.shape[2]} is too small to stylize; "
                         f"each side must be at least {MIN_SIDE} px")
    finite = np.isfinite(arr)
    if not finite.all():
        bad = arr[~finite]
        kinds = [k for k, n in (("NaN", np.isnan(bad).sum()), ("infinite", np.isinf(bad).sum())) if n]
        raise ValueError(f"{name}: {bad.size} of {arr.size} values are {' or '.join(kinds)}; pass finite floats "
                         "in [0, 1]")
    if arr.min() < 0.0 or arr.max() > 1.0:
        raise ValueError(f"{name}: values must be in [0, 1] (got range {arr.min():.3g}..{arr.max():.3g}); "
                         "clip or rescale them")
    return arr


def _mask_weights(mask: Any, n_styles: int, shape: tuple[int, int]) -> np.ndarray:
    """A mask → per-style weights ``[H, W, n]`` summing to 1: ``[H, W]`` (2 styles: 1 → first, 0 → second) or
    ``[H, W, n]`` (one soft map per style)."""
    m = np.asarray(mask, np.float32)
    if m.ndim == 3 and m.shape[-1] == 1:
        m = m[..., 0]
    if m.ndim == 2:
        if n_styles != 2:
            raise ValueError(f"a single-channel mask picks between exactly 2 styles, got {n_styles}; pass a "
                             f"[H, W, {n_styles}] mask for more")
        m = np.stack([m, 1.0 - m], axis=-1)
    if m.ndim != 3 or m.shape[-1] != n_styles:
        raise ValueError(f"mask shape {m.shape}: expected [H, W] (2 styles) or [H, W, {n_styles}]")
    if m.shape[:2] != tuple(shape):
        raise ValueError(f"mask is {m.shape[1]}x{m.shape[0]} but the content is {shape[1]}x{shape[0]}; "
                         "use a mask of the content's size")
    if not np.isfinite(m).all() or m.min() < 0:
        raise ValueError("mask values must be finite and >= 0")
    return m / np.maximum(m.sum(-1, keepdims=True), 1e-6)


def _feature_mask(m: np.ndarray, hp: int, wp: int, h: int, w: int) -> jax.Array:
    """``[H, W, n]`` pixel weights → ``[1, h, w, n]`` weights on an ``h × w`` feature grid of the ``hp × wp`` padded
    image (padded, then area-averaged)."""
    m = np.pad(m, ((0, hp - m.shape[0]), (0, wp - m.shape[1]), (0, 0)), mode="edge")
    return jnp.asarray(m.reshape(h, hp // h, w, wp // w, -1).mean(axis=(1, 3))[None])


def _mix(ts: list[Any], weights: np.ndarray | None, pix_mask: np.ndarray | None, hp: int, wp: int) -> Any:
    """The styles' transformed features combined per leaf: by global ``weights`` or by the spatial ``pix_mask``."""
    def leaf(*xs):
        if pix_mask is not None:
            mix = _feature_mask(pix_mask, hp, wp, *xs[0].shape[1:3])
        else:
            mix = jnp.asarray(weights)[None, None, None, :]
        return sum(mix[..., i:i + 1] * x for i, x in enumerate(xs))

    return jax.tree.map(leaf, *ts)


def style_matrix(content: Any, style: Any, *, method: str = "lst", checkpoint: str | os.PathLike | None = None,
                 vgg_weights: str | os.PathLike | None = None, seed: int = 0) -> np.ndarray:
    """A linear method's style transform ``T`` ``[B, m, m]`` for ``content`` (e.g. a video's first frame) and
    ``style``, to pass as ``stylize(..., matrix=T)`` for every frame. Images as for :func:`stylize`."""
    c, s = _as_images(content, "content"), _as_images(style, "style")
    runner = _cached_model(method, None if checkpoint is None else os.fspath(checkpoint),
                           None if vgg_weights is None else os.fspath(vgg_weights), seed)
    runner.need_matrix()
    m = runner.size_multiple
    padded, _ = pad_to_multiple(jnp.asarray(c), m)
    s = jnp.asarray(s[:, : s.shape[1] // m * m, : s.shape[2] // m * m])
    return np.asarray(runner.matrix(runner.state, runner.encode(runner.state, padded),
                                    runner.encode(runner.state, jnp.broadcast_to(s, (c.shape[0], *s.shape[1:])))))


def stylize(content: Any, style: Any, *, method: str | None = None, checkpoint: str | os.PathLike | None = None,
            alpha: float = 1.0, k: int | None = None, tile: int | None = None, matrix: Any = None,
            regions: Any = None,
            style_weights: Any = None, mask: Any = None, preserve_color: bool = False,
            decoder: str = "feedforward", steps: int = 200, lr: float = 0.02, return_losses: bool = False,
            vgg_weights: str | os.PathLike | None = None, seed: int = 0, sample_tau: float | None = None,
            sample_seed: int = 0, fold_size: int | None = None) -> np.ndarray:
    """Stylize ``content`` with ``style``.

    Args:
      content: RGB float in [0, 1], ``[H, W, 3]`` or ``[B, H, W, 3]`` (any H, W >= 16; padded to a multiple of 8
        internally and cropped back).
      style: ``[Hs, Ws, 3]`` or ``[B or 1, Hs, Ws, 3]``, or a list of such images (several styles, combined by
        ``style_weights`` or ``mask``; their sizes may differ).
      method: registered method name; default: the checkpoint's method (exported models record it), else
        ``"gnn"``.
      checkpoint: an exported model (``python -m jaxstyle.export``) or a parameter ``.npz``; default: the model
        shipped for ``method`` (``jaxstyle/pretrained/``).
      alpha: content–style trade-off in [0, 1] (1 = full style).
      k: style edges per content node for graph methods (``"gnn"``): 1 is close to Style-Swap, larger values
        blend more style patches (one compile per value). ``None``: the trained value.
      sample_tau, sample_seed: graph methods: with ``sample_tau > 0`` each content patch keeps one of its ``k``
        best style patches, drawn ∝ exp(NCC / τ) with ``sample_seed`` (k = 1: the best; larger k and τ: more
        diverse results, a new seed gives another draw); ``None``: the model's config (0 = attend to all k).
      fold_size: graph methods: each output location averages the central ``fold_size²`` taps of the style
        patches that cover it (odd, ≤ the patch size; 1 = its own patch's centre: the chosen style patches show,
        the most diverse with ``sample_tau``); ``None``: the model's config (the patch size, the spec).
      matrix: linear methods (``"lst"``): reuse this style transform (``[1 or B, m, m]``, from
        :func:`style_matrix`) instead of computing one from ``content``: every frame of a video then gets the same
        linear map (temporally stable). Single style only.
      regions: attention methods (``"adaattn"``): ``(content_labels [H, W], style_labels [Hs, Ws])`` integer region
        maps; content pixels of a region take their style only from the style pixels with the same label (user
        control of the correspondence; a label absent from the style leaves its pixels unrestricted). One style.
      tile: run the encoder and decoder on ``tile×tile`` pieces (a multiple of 8, e.g. 512) to bound memory at
        high resolution; the result equals the untiled one. The graph transform always sees the whole image.
      style_weights: one weight per style (normalised to sum 1): the transformed features are interpolated.
      mask: spatial control, ``[H, W]`` in [0, 1] for two styles (1 → the first) or ``[H, W, n]`` for n styles.
      preserve_color: keep the content's colours (luminance-only transfer in YIQ).
      decoder: ``"feedforward"`` (the trained decoder) or ``"optimize"``: training-free rendering that optimises
        the image (from the content) so its relu4_1 features match the method's transformed features and its
        VGG statistics match the style's; works for any method, even without a trained decoder.
      steps, lr: Adam steps and learning rate (pixels) of ``decoder="optimize"``.
      return_losses: with ``decoder="optimize"``, also return the per-step losses ``[steps]``.
      vgg_weights: VGG-19 ``.npz``; default: the cached ImageNet VGG-19.
      seed: initialisation seed of parameters the checkpoint does not provide.

    Returns:
      ``np.ndarray`` float32 in [0, 1] with the shape of ``content`` (and the losses if ``return_losses``).
    """
    c = _as_images(content, "content")
    styles = [_as_images(x, f"style[{i}]") for i, x in enumerate(style)] if isinstance(style, (list, tuple)) \
        else [_as_images(style, "style")]
    for i, s in enumerate(styles):
        if s.shape[0] not in (1, c.shape[0]):
            raise ValueError(f"style batch {s.shape[0]} must be 1 or match the content batch {c.shape[0]}")
        if s.shape[0] != c.shape[0]:
            styles[i] = np.broadcast_to(s, (c.shape[0], *s.shape[1:]))
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha={alpha}: must be in [0, 1]")
    if tile is not None and (tile < 64 or tile % 8):
        raise ValueError(f"tile={tile}: must be a multiple of 8 and at least 64")
    if decoder not in ("feedforward", "optimize"):
        raise ValueError(f"decoder={decoder!r}: use 'feedforward' or 'optimize'")
    if decoder == "optimize" and (int(steps) < 1 or tile is not None):
        raise ValueError("decoder='optimize' needs steps >= 1 and no tile")
    weights = None
    if style_weights is not None:
        weights = np.asarray(style_weights, np.float32).reshape(-1)
        if weights.size != len(styles) or (weights < 0).any() or weights.sum() <= 0:
            raise ValueError(f"style_weights {list(weights)}: need {len(styles)} non-negative weights, not all 0")
        weights = weights / weights.sum()
    elif mask is None:
        weights = np.full(len(styles), 1.0 / len(styles), np.float32)
    pix_mask = None if mask is None else _mask_weights(mask, len(styles), c.shape[1:3])
    if method is None:
        method = (read_meta(checkpoint).get("method") if checkpoint is not None else None) or "gnn"
    runner = _cached_model(method, None if checkpoint is None else os.fspath(checkpoint),
                           None if vgg_weights is None else os.fspath(vgg_weights), seed)
    k = None if k is None else int(k)
    if sample_tau is not None and not float(sample_tau) >= 0:
        raise ValueError(f"sample_tau={sample_tau}: must be >= 0 (0 attends to all k edges)")
    graph = (() if sample_tau is None else (("sample_tau", float(sample_tau)), ("seed", int(sample_seed)))) + \
        (() if fold_size is None else (("fold_size", int(fold_size)),))
    a = jnp.float32(alpha)
    mult = runner.size_multiple
    padded, (h, w) = pad_to_multiple(jnp.asarray(c), mult)
    s8 = [jnp.asarray(s[:, : s.shape[1] // mult * mult, : s.shape[2] // mult * mult]) for s in styles]  # crop only
    if runner.check is not None:
        for s in s8:
            runner.check(padded.shape, s.shape, *([] if k is None or not runner.takes_k else [k]))
    losses = None
    if matrix is not None:
        runner.need_matrix()
        if len(s8) != 1:
            raise ValueError("matrix= (a fixed style transform) takes exactly one style")
        matrix = jnp.broadcast_to(jnp.asarray(matrix, jnp.float32), (padded.shape[0], *np.shape(matrix)[-2:]))
    labels = None
    if regions is not None:
        if not runner.takes_labels:
            raise ValueError(f"regions= needs an attention method such as 'adaattn', not {method!r}")
        if len(s8) != 1 or not isinstance(regions, (tuple, list)) or len(regions) != 2:
            raise ValueError("regions= takes (content_labels, style_labels) and exactly one style")
        labels = []
        for name, r, img, full in (("content", regions[0], padded, c), ("style", regions[1], s8[0], styles[0])):
            r = np.asarray(r)
            if r.shape != full.shape[1:3] or not np.issubdtype(r.dtype, np.integer):
                raise ValueError(f"regions: the {name} label map must be integers of shape {full.shape[1:3]}, "
                                 f"got {r.dtype} {r.shape}")
            r = np.pad(r, ((0, max(0, img.shape[1] - r.shape[0])), (0, max(0, img.shape[2] - r.shape[1]))),
                       mode="edge")[: img.shape[1], : img.shape[2]]
            labels.append(jnp.broadcast_to(jnp.asarray(r, jnp.int32), (img.shape[0], *img.shape[1:3])))
        labels = tuple(labels)
    if len(s8) == 1 and decoder == "feedforward" and tile is None and matrix is None and labels is None:
        out = runner.run(runner.state, padded, s8[0], a, k=k, graph=graph)  # the common case: one program
    else:  # staged: encode (tiled if asked), transform per style, mix, decode or optimise
        fc = runner.encode_images(padded, tile)
        ts = [runner.transform(runner.state, fc, runner.encode_images(s, tile), a, k=k, matrix=matrix, labels=labels,
                               graph=graph) for s in s8]
        t = _mix(ts, weights, pix_mask, *padded.shape[1:3])
        if decoder == "optimize":
            sw = pix_mask.reshape(-1, len(s8)).mean(0) if pix_mask is not None else weights
            out, losses = runner.optimize(padded, t, s8, sw, steps=int(steps), lr=float(lr))
        else:
            out = runner.decode_features(t, tile)
    out = jnp.clip(jnp.asarray(out)[:, :h, :w], 0.0, 1.0)
    if preserve_color:
        out = color.preserve_color(out, jnp.asarray(c))
    out = np.asarray(out)
    out = out[0] if np.ndim(content) == 3 else out
    return (out, np.asarray(losses)) if return_losses and losses is not None else out
