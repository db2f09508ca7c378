"""GNN-based semi-parametric style transfer (Jing et al., ECCV 2022), spec ``shared/spec/gnn_style_transfer.md``.

Encoder (frozen VGG-19, relu4_1) → scale predictor (per style location) → multi-scale style patches → NCC top-k
edges (style→content) and content kNN edges → GraphsTuples → layer A (style→content attention) → layer B
(content↔content, self-loops) → Patch2Feat → AdaIN refinement with the raw style feature → decoder (bilinear).

Every design choice of the spec is a key of :func:`default_config`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
from flax import nnx

from jaxstyle.graph.build import SIMILARITIES, content_knn_edges, knn_from_nodes, knn_windows, spatial_edges
from jaxstyle.graph.deform import ScalePredictor, mix_probs, mixed_style_nodes, scale_maps
from jaxstyle.graph.graphs import build_graph
from jaxstyle.graph.message_passing import AGGREGATORS, GraphLayer, fold_or_raise, propagate_fast
from jaxstyle.losses import content_loss, image_priors, mse, prior_weights, style_stats_loss
from jaxstyle.models.base import StyleModel
from jaxstyle.nn.blocks import MirrorDecoder
from jaxstyle.nn.vgg import VGG19, load_vgg19
from jaxstyle.ops.norms import adain, mvn
from jaxstyle.ops.patches import check_patch_grid, feat2patch


def default_config() -> ml_collections.ConfigDict:
    """Model hyper-parameters (the trainer's ``config.model``); comments give the spec section."""
    return ml_collections.ConfigDict(dict(
        feature_layer="relu4_1",      # §2 graph input (the mirror decoder starts there)
        patch_size=5,                 # §3.1 [SLIDES]
        k=5,                          # §3.3 style edges per content node [SLIDES]; inference may override
        similarity="ncc",             # §3.2 "ncc" | "cosine" | "euclidean"
        use_content_edges=True,       # §3.4 / §12 layer B on or off
        content_edges="knn",          # §3.4 "knn" (feature kNN, self excluded) | "spatial" (grid neighbours)
        content_knn_max_nodes=128 * 128,  # our choice: "knn" up to this many content nodes (a 1024² photo), the
                                      # spatial grid edges above (the exact kNN costs O(N_c²)); 0 = always knn
        k_content=5,                  # §3.4
        sample_tau=0.0,               # our choice (diversity, issue 15): > 0 keeps `sample_keep` of each content node's
                                      # k style edges, drawn without replacement ∝ exp(NCC / τ) (Gumbel top-k, seeded by
                                      # `sample_seed`); 0 attends to all k (the spec). Larger k: more
                                      # candidates to draw from, a more diverse result; k = 1 stays the best match
        sample_keep=1,
        sample_seed=0,
        fold_size=0,                  # our choice (diversity, issue 15): Patch2Feat averages the central fold×fold taps
                                      # of each node's output window; 0 = patch_size (all p², the spec); 1 = each
                                      # location its own node's centre tap (no 25-window average that blurs which
                                      # style patch was chosen). Inference may override
        scales=(1, 2, 3),             # §4.1; (1,) switches the deformable scales off
        scale_mode="soft",            # §4.3 "soft" | "gumbel_st"
        scale_tau=1.0,                # §4.3 softmax / Gumbel temperature
        scale_hidden=(256, 128),      # §4.2
        scale_init_bias=2.0,          # §4.2 start near σ = 1
        scale_head_init_std=1e-3,     # §4.2 (spec: 0; tiny instead, so gradients reach the convs at step 0)
        scale_entropy_weight=0.0,     # §4.3 optional regulariser
        heads=4,                      # §5.1
        aggregator="gat",             # §12 gat | gcn | gin | edgeconv | sage | mean_topk | hard_nn
        attn="gat_ncc",               # §5.1 / §12 "gat_ncc" (GAT + γ·NCC) | "gat" (pure GAT) | "gatv2" (+ γ·NCC)
        gamma_init=10.0,              # §5.1
        att_init_std=0.01,            # §5.1
        leaky_slope=0.2,              # §5.1
        content_gate=False,           # gated content self-loop before the AdaIN refinement (off: spec §5.3);
                                      # F = (1 − w)·F_agg + w·F_c, w = sigmoid(b + a·(1 − best style-edge NCC))
        gate_init=(-1.0, 0.0),        # initial (b, a) of the gate: w ≈ 0.27 everywhere at step 0
        gate_param_scale=50.0,        # (b, a) = scale · stored parameter: Adam moves a scalar by ~lr per step, too
                                      # slow for two scalars that set a trade-off; this is their learning-rate factor
        use_adain_refine=True,        # §7 / §12
        upsample="bilinear",          # §8
        style_layers=("relu1_1", "relu2_1", "relu3_1", "relu4_1"),  # §9
        content_weight=1.0,           # §9 λ_c
        style_weight=10.0,            # §9 λ_s
        struct_weight=0.0,            # §9 λ_struct
        identity_weight=0.0,          # pixel MSE of decoder(F_c) vs the content (as AdaIN's; 0 = the spec's §9)
        tv_weight=0.0,                # our choice (issue 15): λ_tv · losses.total_variation(I_cs) against the decoder's
                                      # checker texture (0 = the spec's §9)
        grid_weight=0.0,              # our choice (issue 15): λ_grid · losses.grid_energy(I_cs): only the detail that
                                      # repeats every 2/4/8 px, so brush texture is not blurred as by TV
        knn_block_size=1024,          # §14 content nodes per NCC block
        knn_algorithm="gram",         # our choice: "gram" (window scores from C-deep feature Grams, ~8x fewer FLOPs at
                                      # p=5 with 3 scales, no style patch vectors) | "patches" (cut patches, C·p²-deep
                                      # products); the same exact top-k up to float32 rounding
        mp_chunk=4096,                # content nodes gathered at once in message passing
        mp_dense_max=131072,          # N_recv·N_send up to which a relation uses a dense adjacency (same result,
                                      # faster gradients on small training graphs; benchmarks/train_step.py); 0 = gather
        vgg_padding="reflect",        # §2
    ))


class GNNStyle(StyleModel):
    """``model(content, style, alpha=1.0, k=None, key=None)``: ``[B, H, W, 3]`` × ``[B, Hs, Ws, 3]`` → ``[B, H, W, 3]``
    (H, W multiples of 8). ``k`` (static) overrides the number of style edges per content node at inference."""

    def __init__(self, encoder: VGG19, cfg: ml_collections.ConfigDict, *, rngs: nnx.Rngs):
        if cfg.feature_layer != "relu4_1":
            raise ValueError(f"feature_layer={cfg.feature_layer!r}: only relu4_1 is supported (the mirror decoder "
                             "starts there)")
        if cfg.similarity not in SIMILARITIES:
            raise ValueError(f"similarity={cfg.similarity!r}: choose one of {', '.join(SIMILARITIES)}")
        if float(cfg.sample_tau) < 0 or int(cfg.sample_keep) < 1:
            raise ValueError(f"sample_tau={cfg.sample_tau}, sample_keep={cfg.sample_keep}: need tau >= 0 (0 = off) "
                             "and keep >= 1")
        if cfg.knn_algorithm not in ("gram", "patches"):
            raise ValueError(f"knn_algorithm={cfg.knn_algorithm!r}: use 'gram' or 'patches'")
        if cfg.content_edges not in ("knn", "spatial"):
            raise ValueError(f"content_edges={cfg.content_edges!r}: use 'knn' or 'spatial'")
        if int(cfg.content_knn_max_nodes) < 0:
            raise ValueError(f"content_knn_max_nodes={cfg.content_knn_max_nodes}: must be >= 0 (0 = always knn)")
        if cfg.aggregator not in AGGREGATORS:
            raise ValueError(f"aggregator={cfg.aggregator!r}: choose one of {', '.join(AGGREGATORS)}")
        scales = tuple(int(s) for s in cfg.scales)
        if not scales or scales[0] != 1 or any(s < 1 for s in scales) or len(set(scales)) != len(scales):
            raise ValueError(f"scales={scales}: distinct positive integers starting with 1, e.g. (1, 2, 3)")
        check_patch_grid((cfg.patch_size, cfg.patch_size), cfg.patch_size)
        self.encoder = encoder
        c = encoder.channels("relu4_1")
        self.cfg = ml_collections.FrozenConfigDict(cfg)
        self.check_fold(int(cfg.fold_size))
        self.scales = scales
        self.scale_predictor = (ScalePredictor(c, len(scales), tuple(cfg.scale_hidden),
                                               init_bias=cfg.scale_init_bias, head_std=cfg.scale_head_init_std,
                                               rngs=rngs) if len(scales) > 1 else None)
        if cfg.attn not in ("gat", "gat_ncc", "gatv2"):
            raise ValueError(f"attn={cfg.attn!r}: use 'gat_ncc', 'gat' or 'gatv2'")
        common = dict(rngs=rngs, gamma_init=cfg.gamma_init, att_std=cfg.att_init_std, leaky_slope=cfg.leaky_slope,
                      ncc_edge_bias=cfg.attn != "gat", attention="gatv2" if cfg.attn == "gatv2" else "gat")
        self.layer_a = GraphLayer(c, cfg.patch_size, cfg.heads, cfg.aggregator, **common)
        agg_b = "mean_topk" if cfg.aggregator == "hard_nn" else cfg.aggregator
        self.layer_b = (GraphLayer(c, cfg.patch_size, cfg.heads, agg_b, tied=True, **common)
                        if cfg.use_content_edges else None)
        self.gate = (nnx.Param(jnp.asarray(tuple(cfg.gate_init), jnp.float32).reshape(2) / cfg.gate_param_scale)
                     if cfg.content_gate else None)
        widths = tuple(encoder.channels(f"relu{b}_1") for b in (4, 3, 2, 1))
        self.decoder = MirrorDecoder(widths, upsample=cfg.upsample, rngs=rngs)

    # -- validation (static shapes: runs at trace time, before any heavy work) --------------------------------
    def check_fold(self, fold_size: int) -> None:
        fold_or_raise(fold_size, int(self.cfg.patch_size))

    def check_inputs(self, content_shape, style_shape, k: int | None = None) -> None:
        """Raise ``ValueError`` naming the value and the valid range for unusable sizes or ``k`` (default: the
        config's)."""
        cfg = self.cfg
        k = cfg.k if k is None else int(k)
        if content_shape[0] != style_shape[0]:
            raise ValueError(f"content batch {content_shape[0]} and style batch {style_shape[0]} differ")
        hc, wc = content_shape[1] // 8, content_shape[2] // 8
        hs, ws = style_shape[1] // 8, style_shape[2] // 8
        p, smax = cfg.patch_size, max(self.scales)
        need_c, need_s = max(p, p // 2 + 1, 2), max(p, (p // 2) * smax + 1, 2)
        if min(hc, wc) < need_c:
            raise ValueError(f"content image {content_shape[1]}x{content_shape[2]} is too small for the patch grid: "
                             f"each side must be at least {8 * need_c} px (patch_size={p} at relu4_1)")
        if min(hs, ws) < need_s:
            raise ValueError(f"style image {style_shape[1]}x{style_shape[2]} is too small for the patch grid: each "
                             f"side must be at least {8 * need_s} px (patch_size={p}, scales={self.scales})")
        if not 1 <= k <= hs * ws:
            raise ValueError(f"k={k}: must be between 1 and the number of style nodes ({hs * ws} for a "
                             f"{style_shape[1]}x{style_shape[2]} style)")
        if cfg.use_content_edges:
            kc = cfg.k_content
            limit = 8 if self.content_edge_mode(hc * wc) == "spatial" else hc * wc - 1
            if cfg.content_edges == "knn" and limit == 8:  # switched by size: the grid has 8 neighbours
                kc = min(kc, 8)
            if not 1 <= kc <= limit:
                raise ValueError(f"k_content={kc}: must be between 1 and {limit}")

    def content_edge_mode(self, n_content: int) -> str:
        """``"knn"`` or ``"spatial"``: the configured content edges for ``n_content`` nodes (``content_edges="knn"``
        turns spatial above ``content_knn_max_nodes``)."""
        limit = int(self.cfg.content_knn_max_nodes)
        if self.cfg.content_edges == "knn" and limit and n_content > limit:
            return "spatial"
        return self.cfg.content_edges

    # -- the stylization transform --------------------------------------------------------------------------
    def scale_probs(self, fc: jax.Array, fs: jax.Array, *, key: jax.Array | None = None,
                    tau: float | None = None) -> jax.Array:
        """``π [B, hs, ws, S]`` (ones when the deformable scales are off)."""
        if self.scale_predictor is None:
            return jnp.ones((*fs.shape[:3], 1), jnp.float32)
        logits = self.scale_predictor(fs, fc)
        return mix_probs(logits, mode=self.cfg.scale_mode, tau=self.cfg.scale_tau if tau is None else tau, key=key)

    def content_weight_map(self, best_score: jax.Array) -> jax.Array:
        """The content gate ``w [B, h, w, 1]`` from each content node's best style-edge similarity ``[B, h, w]``."""
        b, a = self.gate[...] * self.cfg.gate_param_scale
        return jax.nn.sigmoid(b + a * (1.0 - best_score))[..., None]

    def transfer(self, fc: jax.Array, fs: jax.Array, *, k: int, key: jax.Array | None = None,
                 tau: float | None = None, sample_tau: float | None = None, seed: int | None = None,
                 fold_size: int | None = None) -> tuple[jax.Array, jax.Array]:
        """relu4_1 features → ``(F_cs [B, h, w, C], π [B, hs, ws, S])`` (before the α blend).

        With ``content_gate``, content nodes without a close style patch keep more of their own feature: a gated
        self-loop (the spec's message passing has none, and its loss has no content term on the GNN's parameters,
        so a trained GNN drifts from the content layout; ``struct_weight`` supplies that term)."""
        cfg = self.cfg
        p = cfg.patch_size
        fc, fs = fc.astype(jnp.float32), fs.astype(jnp.float32)
        pi = self.scale_probs(fc, fs, key=key, tau=tau)
        hs, ws = fs.shape[1:3]
        sg = jax.lax.stop_gradient  # edge selection is discrete: gradients flow through the weights only
        if cfg.knn_algorithm == "gram":
            idx, score = knn_windows(sg(fc), sg(scale_maps(fs, self.scales)), k=k, patch_size=p,
                                     dilations=self.scales, weights=sg(pi), similarity=cfg.similarity,
                                     block_size=cfg.knn_block_size)
        else:
            idx, score = knn_from_nodes(sg(fc), sg(mixed_style_nodes(fs, pi, self.scales, p)), k=k, patch_size=p,
                                        similarity=cfg.similarity, block_size=cfg.knn_block_size)
        best = score[..., 0]
        tau = float(cfg.sample_tau if sample_tau is None else sample_tau)
        keep = min(int(cfg.sample_keep), k)
        if tau > 0 and keep < k:  # diversity: a seeded draw of `keep` of the k edges, ∝ exp(score / τ)
            noise = jax.random.gumbel(jax.random.key(int(cfg.sample_seed) if seed is None else int(seed)),
                                      score.shape)
            _, pos = jax.lax.top_k(score / tau + noise, keep)
            idx, score = (jnp.take_along_axis(a, pos, axis=-1) for a in (idx, score))
        cidx = cscore = None
        if self.layer_b is not None:
            if self.content_edge_mode(fc.shape[1] * fc.shape[2]) == "knn":
                if cfg.knn_algorithm == "gram":
                    cidx, cscore = content_knn_edges(sg(fc), k=cfg.k_content, patch_size=p,
                                                     similarity=cfg.similarity, block_size=cfg.knn_block_size)
                else:
                    cidx, cscore = knn_from_nodes(sg(fc), feat2patch(sg(fc), p), k=cfg.k_content, patch_size=p,
                                                  similarity=cfg.similarity, block_size=cfg.knn_block_size,
                                                  exclude_self=True)
            else:
                cidx, cscore = spatial_edges(sg(fc), k=min(cfg.k_content, 8), patch_size=p,
                                             similarity=cfg.similarity)
        style_graph, content_graph = build_graph(fc, fs, idx, score, scale_probs=pi, content_idx=cidx,
                                                  content_score=cscore)
        f_agg = propagate_fast(self.layer_a, self.layer_b, style_graph, content_graph, content_hw=fc.shape[1:3],
                               style_hw=(hs, ws), patch_size=p, scales=self.scales, chunk=cfg.mp_chunk,
                               dense_max=cfg.mp_dense_max,
                               fold_size=int(cfg.fold_size if fold_size is None else fold_size) or None)
        if self.gate is not None:
            w = self.content_weight_map(best.reshape(fc.shape[:3]))
            f_agg = (1.0 - w) * f_agg + w * fc
        return (adain(f_agg, fs) if cfg.use_adain_refine else f_agg), pi

    def encode(self, x: jax.Array) -> jax.Array:
        """``[B, H, W, 3] -> [B, H/8, W/8, 512]`` relu4_1 features."""
        return self.encoder(x, ("relu4_1",))["relu4_1"]

    def transform(self, fc: jax.Array, fs: jax.Array, alpha: float | jax.Array = 1.0, *, k: int | None = None,
                  key: jax.Array | None = None, sample_tau: float | None = None, seed: int | None = None,
                  fold_size: int | None = None) -> jax.Array:
        """The decoder's input ``α·F_cs + (1 − α)·F_c`` from relu4_1 features (``k``, ``sample_tau``, ``seed`` and
        ``fold_size`` static; the last three override the config's ``sample_tau`` / ``sample_seed`` /
        ``fold_size``)."""
        k = self.cfg.k if k is None else int(k)
        self.check_inputs((fc.shape[0], 8 * fc.shape[1], 8 * fc.shape[2]),
                          (fs.shape[0], 8 * fs.shape[1], 8 * fs.shape[2]), k)
        if sample_tau is not None and float(sample_tau) < 0:
            raise ValueError(f"sample_tau={sample_tau}: must be >= 0 (0 attends to all k edges)")
        if fold_size is not None:
            self.check_fold(int(fold_size))
        f_cs, _ = self.transfer(fc, fs, k=k, key=key, sample_tau=sample_tau, seed=seed, fold_size=fold_size)
        return alpha * f_cs + (1.0 - alpha) * fc.astype(jnp.float32)

    def optimize_objective(self) -> tuple[tuple[str, ...], float, float]:
        """The training loss's style layers and weights (λ_c, λ_s)."""
        cfg = self.cfg
        return tuple(cfg.style_layers), float(cfg.content_weight), float(cfg.style_weight)

    def __call__(self, content: jax.Array, style: jax.Array, alpha: float | jax.Array = 1.0, *, k: int | None = None,
                 key: jax.Array | None = None, sample_tau: float | None = None, seed: int | None = None,
                 fold_size: int | None = None) -> jax.Array:
        self.check_inputs(content.shape, style.shape, self.cfg.k if k is None else int(k))
        return self.decoder(self.transform(self.encode(content), self.encode(style), alpha, k=k, key=key,
                                           sample_tau=sample_tau, seed=seed, fold_size=fold_size))

    def loss(self, content: jax.Array, style: jax.Array, *, key: jax.Array | None = None,
             tau: float | None = None) -> tuple[jax.Array, dict[str, jax.Array]]:
        """Spec §9: ``λ_c·MSE(φ41(I_cs), sg(F_cs)) + λ_s·L_s`` (+ ``λ_id·L_identity + λ_struct·L_struct`` +
        entropy(π)).

        Returns ``(loss, {"loss_content", "loss_style", ...})`` (float32 scalars, batch means).
        """
        cfg = self.cfg
        self.check_inputs(content.shape, style.shape, cfg.k)
        layers = tuple(dict.fromkeys(tuple(cfg.style_layers) + ("relu4_1",)))
        fc = self.encoder(content, ("relu4_1",))["relu4_1"]
        fs = self.encoder(style, layers)
        f_cs, pi = self.transfer(fc, fs["relu4_1"], k=cfg.k, key=key, tau=tau)
        out = self.decoder(f_cs)
        fo = self.encoder(out, layers)
        lc = content_loss(fo["relu4_1"], jax.lax.stop_gradient(f_cs))
        ls = style_stats_loss(fo, fs, tuple(cfg.style_layers))
        total = cfg.content_weight * lc + cfg.style_weight * ls
        aux = {"loss_content": lc, "loss_style": ls}
        if cfg.identity_weight:
            aux["loss_identity"] = mse(self.decoder(fc), content)
            total = total + cfg.identity_weight * aux["loss_identity"]
        prior, prior_aux = image_priors(out, **prior_weights(cfg))
        total, aux = total + prior, aux | prior_aux
        if cfg.struct_weight:
            aux["loss_struct"] = mse(mvn(fo["relu4_1"]), mvn(fc))
            total = total + cfg.struct_weight * aux["loss_struct"]
        if self.gate is not None:  # the gate's w where the best style patch matches perfectly (NCC = 1)
            aux["content_gate"] = jax.nn.sigmoid(self.gate[0] * cfg.gate_param_scale)
        if cfg.scale_entropy_weight and self.scale_predictor is not None:
            aux["scale_entropy"] = -jnp.mean(jnp.sum(pi * jnp.log(pi + 1e-8), axis=-1))
            total = total + cfg.scale_entropy_weight * aux["scale_entropy"]
        return total, aux


def build(cfg: ml_collections.ConfigDict, *, rngs: nnx.Rngs, encoder: VGG19 | None = None) -> GNNStyle:
    """Build a GNN stylizer; ``encoder`` defaults to the cached ImageNet VGG-19."""
    return GNNStyle(encoder if encoder is not None else load_vgg19(padding=cfg.vgg_padding), cfg, rngs=rngs)
