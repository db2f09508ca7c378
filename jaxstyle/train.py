"""Training: the state, the jitted data-parallel train step, and ``train_and_evaluate`` (the loop).

The model is an NNX module; the loop works on plain pytrees (``TrainState``) split from it, so the step is one
``jax.jit`` with replicated state and a batch sharded along the ``data`` mesh axis. Losses are means over the
global batch inside the step (the compiler inserts the all-reduce).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import threading
import time
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from absl import logging
from flax import nnx

from jaxstyle import checkpoint, parallel
from jaxstyle._io import ensure_writable_dir, is_remote, run_path
from jaxstyle.logs import Progress
from jaxstyle.metrics import MetricWriter, image_grid

Batch = dict[str, jax.Array]
LossFn = Callable[[nnx.Module, Batch, jax.Array], tuple[jax.Array, dict[str, jax.Array]]]


class TrainingError(RuntimeError):
    """The run cannot continue (non-finite loss, ...); the message says at which step and what was kept."""


class Interrupted(Exception):
    """Ctrl-C stopped the run after ``step``, which was checkpointed; re-running the same command resumes there."""

    def __init__(self, step: int):
        super().__init__(f"interrupted: saved a checkpoint at step {step}; re-run the same command to resume")
        self.step = step


@contextlib.contextmanager
def _stop_on_sigint():
    """While active, the first SIGINT (Ctrl-C) only sets ``stop["requested"]``: the loop finishes its step,
    checkpoints it and stops. A second SIGINT raises ``KeyboardInterrupt`` at once (the last finished checkpoint
    is kept). Off in multi-process runs (one host saving alone would hang the others) and off the main thread."""
    stop = {"requested": False}
    if jax.process_count() > 1 or threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handle(signum, frame):
        if stop["requested"]:
            raise KeyboardInterrupt
        stop["requested"] = True
        logging.warning("Ctrl-C: finishing this step and saving a checkpoint (Ctrl-C again to stop at once)")

    previous = signal.signal(signal.SIGINT, handle)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)


class TrainState(NamedTuple):
    """Everything a train step reads and writes; a pytree of arrays (checkpointable as is)."""

    step: jax.Array  # int32 scalar
    params: nnx.State  # trainable: every nnx.Param of the model
    frozen: nnx.State  # everything else (the VGG encoder's Frozen variables, ...)
    opt_state: optax.OptState


def split_model(model: nnx.Module) -> tuple[nnx.GraphDef, nnx.State, nnx.State]:
    """``(graphdef, params, frozen)``: trainable ``nnx.Param`` state and the rest."""
    return nnx.split(model, nnx.Param, ...)


def init_state(model: nnx.Module, tx: optax.GradientTransformation) -> tuple[nnx.GraphDef, TrainState]:
    """Split ``model`` and initialise the optimiser on its trainable parameters.

    The state gets its own copy of the arrays: train steps donate it, and ``model`` stays usable. One jitted
    call (rather than one small compile per parameter shape).
    """
    graphdef, params, frozen = split_model(model)

    @jax.jit
    def fresh(params, frozen):
        params, frozen = jax.tree.map(jnp.copy, (params, frozen))
        return TrainState(jnp.zeros((), jnp.int32), params, frozen, tx.init(params))

    return graphdef, fresh(params, frozen)


def default_loss(model: nnx.Module, batch: Batch, key: jax.Array) -> tuple[jax.Array, dict[str, jax.Array]]:
    """``model.loss(content, style, key=key)`` for ``{"content": [B,H,W,3], "style": [B,Hs,Ws,3]}``."""
    return model.loss(batch["content"], batch["style"], key=key)


def lr_schedule(optim: ml_collections.ConfigDict) -> optax.Schedule:
    """``lr / (1 + lr_decay · step)`` (the AdaIN reference's inverse decay), with an optional linear warm-up."""
    lr, decay, warmup = float(optim.lr), float(optim.lr_decay), int(optim.warmup_steps)

    def schedule(step):
        step = jnp.asarray(step, jnp.float32)
        s = lr / (1.0 + decay * step)
        return s * jnp.minimum(1.0, (step + 1) / warmup) if warmup else s

    return schedule


def make_optimizer(optim: ml_collections.ConfigDict) -> optax.GradientTransformation:
    """Adam(W) on :func:`lr_schedule`, with an optional global-norm gradient clip."""
    schedule = lr_schedule(optim)
    if optim.name == "adam":
        tx = optax.adam(schedule, b1=optim.b1, b2=optim.b2)
    elif optim.name == "adamw":
        tx = optax.adamw(schedule, b1=optim.b1, b2=optim.b2, weight_decay=optim.weight_decay)
    else:
        raise ValueError(f"config.optim.name={optim.name!r}: use 'adam' or 'adamw'")
    if optim.grad_clip:
        tx = optax.chain(optax.clip_by_global_norm(float(optim.grad_clip)), tx)
    return tx


def make_train_step(graphdef: nnx.GraphDef, tx: optax.GradientTransformation, loss_fn: LossFn = default_loss,
                    mesh: jax.sharding.Mesh | None = None, *, seed: int = 0,
                    ) -> Callable[[TrainState, Batch], tuple[TrainState, dict[str, jax.Array]]]:
    """A jitted ``step(state, batch) -> (state, metrics)``; the input state is donated.

    With ``mesh``, the state is replicated and the batch sharded along ``data``. The loss gets the key
    ``fold_in(key(seed), step)``. Metrics hold ``loss``, every auxiliary term, ``grad_norm`` and ``finite``; a
    non-finite loss or gradient leaves the parameters and optimiser state unchanged (the host stops the run).
    """
    base = jax.random.key(seed)

    def step(state: TrainState, batch: Batch):
        key = jax.random.fold_in(base, state.step)

        def objective(params):
            return loss_fn(nnx.merge(graphdef, params, state.frozen), batch, key)

        (loss, aux), grads = jax.value_and_grad(objective, has_aux=True)(state.params)
        gnorm = optax.tree.norm(grads)
        finite = jnp.isfinite(loss) & jnp.isfinite(gnorm)
        updates, opt_state = tx.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        keep = lambda new, old: jax.tree.map(lambda a, b: jnp.where(finite, a, b), new, old)  # noqa: E731
        new = state._replace(step=state.step + 1, params=keep(params, state.params),
                             opt_state=keep(opt_state, state.opt_state))
        return new, {"loss": loss, **aux, "grad_norm": gnorm, "finite": finite}

    if mesh is None:
        return jax.jit(step, donate_argnums=(0,))
    rep, shd = parallel.replicated(mesh), parallel.sharded(mesh)
    return jax.jit(step, in_shardings=(rep, shd), out_shardings=(rep, rep), donate_argnums=(0,))


# ----------------------------------------------------------------------------------------------------------------
# the loop
# ----------------------------------------------------------------------------------------------------------------


def build_from_config(config: ml_collections.ConfigDict) -> nnx.Module:
    """The (randomly initialised) model of ``config.method`` with ``config.model`` and the cached VGG-19, computing
    in ``config.model.compute_dtype`` (:mod:`jaxstyle.nn.precision`; parameters float32)."""
    from jaxstyle.nn.precision import parse_compute_dtype, set_compute_dtype
    from jaxstyle.nn.vgg import load_vgg19
    from jaxstyle.registry import get_method

    module = get_method(config.method)
    dtype_name = config.model.get("compute_dtype", "float32")
    parse_compute_dtype(dtype_name)  # a bad value fails before the VGG loads
    encoder = load_vgg19(padding=config.model.get("vgg_padding", "reflect"))
    model = module.build(config.model, rngs=nnx.Rngs(int(config.seed)), encoder=encoder)
    set_compute_dtype(model, dtype_name)
    return model


def warm_start_decoder(model: nnx.Module, source: str, scope: str = "decoder") -> int:
    """Copy ``decoder/...`` parameters from a workdir / checkpoint dir, an exported ``.npz`` or a shipped model
    (its method's name, e.g. ``"adain"``) into ``model``;
    with ``scope="matching"`` every parameter whose name and shape match instead (e.g. a GNN's layers from a run
    with a different loss, or AdaAttN's decoder from AdaIN's but for its skip conv), and the decoder need not fit
    whole.

    Returns the number of arrays copied. Raises ``ValueError`` when the decoder's names or shapes do not fit.
    """
    from jaxstyle.params import flat_params, flatten, read_npz, set_flat_params

    from jaxstyle.registry import METHODS, pretrained_path

    if source in METHODS and not os.path.exists(source):
        flat = read_npz(pretrained_path(source))[0]
    elif run_path(source).is_dir():
        flat = flatten(checkpoint.restore_params(source)[0])
    else:
        flat = read_npz(source)[0]
    if scope not in ("decoder", "matching"):
        raise ValueError(f"config.train.init_scope={scope!r}: use 'decoder' or 'matching'")
    want = {k: v for k, v in flat_params(model).items() if k.startswith("decoder/")}
    got = {k: v for k, v in flat.items() if k.startswith("decoder/")}
    bad = sorted(set(want) ^ set(got)) + [k for k in want.keys() & got.keys() if want[k].shape != got[k].shape]
    if scope == "matching":  # every parameter (decoder or not) whose name and shape match; the rest stays as built
        shapes = {k: v.shape for k, v in flat_params(model).items()}
        got = {k: v for k, v in flat.items() if k in shapes and v.shape == shapes[k]}
    if not want or not got or (bad and scope == "decoder"):
        raise ValueError(f"config.train.init_decoder_from={source!r}: its decoder does not fit this model "
                         f"(mismatched: {bad[:6]}{' ...' if len(bad) > 6 else ''})")
    set_flat_params(model, got, strict=False, source=source)
    return len(got)


def warm_start(model: nnx.Module, train_cfg: ml_collections.ConfigDict) -> None:
    """A new run's warm start: ``train_cfg.init_from`` (every parameter whose name and shape match), then
    ``train_cfg.init_decoder_from`` (``init_scope``) over it, e.g. LST's shipped transform with AdaIN's decoder."""
    for source, scope in ((train_cfg.get("init_from", ""), "matching"),
                          (train_cfg.init_decoder_from, train_cfg.init_scope)):
        if source:
            n = warm_start_decoder(model, source, scope)
            logging.info("warm-started %d arrays (%s) from %s", n, scope, source)


def _summary(rows: list[dict[str, Any]]) -> dict[str, float]:
    keys = [k for k in rows[0] if k != "finite"]
    return {k: float(np.mean([r[k] for r in rows])) for k in keys}


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str | os.PathLike) -> dict[str, float]:
    """Train ``config.method`` into ``workdir``; re-running with the same workdir resumes from the latest checkpoint.

    Writes ``config.json``, ``checkpoints/<step>`` (orbax), ``metrics.jsonl``, ``tb/`` (TensorBoard) and
    ``samples/grid_<step>.png``. Returns the last logged scalars.

    Raises:
      TrainingError: a non-finite loss (the last good checkpoint is kept).
      Interrupted: Ctrl-C (SIGINT); the step in progress was finished and checkpointed first.
      ValueError / DataError: a bad config or data directory (before any heavy work).
    """
    from jaxstyle.data import pipeline

    workdir = os.fspath(workdir)
    is_main = jax.process_index() == 0
    mesh = parallel.data_mesh(int(config.mesh.num_devices) or None)
    parallel.check_batch(int(config.data.batch_size), mesh)
    if int(config.train.num_steps) < 0:
        raise ValueError(f"config.train.num_steps={config.train.num_steps} must be >= 0")
    content_src, style_src = pipeline.make_sources(config.data)  # validates the data dirs early
    if not is_remote(workdir):  # a local folder: a file in the way or no permission fails here, before any work
        ensure_writable_dir(workdir, "--workdir")
    mngr = checkpoint.make_manager(workdir, keep=config.ckpt.keep, every_steps=config.ckpt.every_steps,
                                   async_save=config.ckpt.async_save)
    cfg_json = json.loads(config.to_json())
    saved = checkpoint.saved_config(mngr)
    resuming = saved is not None
    if resuming:
        from jaxstyle.nn.precision import model_settings

        changed = [k for k in ("method", "seed") if saved.get(k) != cfg_json[k]]
        changed += ["model"] if model_settings(saved.get("model", {})) != model_settings(cfg_json["model"]) else []
        changed += [f"data.{k}" for k in ("crop_size", "batch_size", "workers")
                    if saved["data"].get(k) != cfg_json["data"][k]]
        if changed:
            mngr.close()
            raise ValueError(f"workdir {workdir!r} holds a run with a different {', '.join(changed)}; resume with "
                             f"the same settings or use a new --workdir")

    model = build_from_config(config)
    check = getattr(model, "check_inputs", None)
    if check is not None:
        s = int(config.data.crop_size)
        check((1, s, s, 3), (1, s, s, 3))
    tx = make_optimizer(config.optim)
    if not resuming:
        warm_start(model, config.train)
    graphdef, state = init_state(model, tx)
    del model
    state = parallel.replicate(state, mesh)
    if is_main:
        run_dir = run_path(workdir)
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "config.json").write_text(json.dumps(cfg_json, indent=2))

    def transfer(host: dict[str, np.ndarray]) -> dict[str, Any]:  # in the prefetch thread with data.prefetch > 0
        skipped = int(np.sum(host.pop("skipped")))
        return {"host": host, "batch": parallel.to_global(host, mesh), "skipped": skipped}

    data_iter = iter(pipeline.training_pipeline(content_src, style_src, config.data, seed=int(config.seed),
                                                process_index=jax.process_index(),
                                                process_count=jax.process_count(), transfer=transfer))
    start = 0
    restored = checkpoint.restore_latest(mngr, state, data_iter)
    if restored is not None:
        start, state = restored
        logging.info("resumed from step %d in %s", start, workdir)

    step_fn = make_train_step(graphdef, tx, default_loss, mesh, seed=int(config.seed))
    render = jax.jit(lambda p, f, c, s: nnx.merge(graphdef, p, f)(c, s))
    writer = MetricWriter(workdir, enabled=is_main)
    num_steps = int(config.train.num_steps)
    log_every, img_every = max(1, int(config.log.every_steps)), int(config.log.image_every_steps)
    progress = Progress(num_steps, start, enabled=is_main and bool(config.log.progress))
    schedule = lr_schedule(config.optim)
    pending: list[tuple[int, dict]] = []
    skipped, last, t_log, n_log = 0, {}, time.perf_counter(), 0

    def flush_metrics(step: int) -> None:
        nonlocal pending, t_log, n_log, last
        if not pending:
            return
        rows = [(s, jax.device_get(m)) for s, m in pending]
        pending = []
        bad = [s for s, m in rows if not bool(m["finite"])]
        if bad:
            raise TrainingError(
                f"non-finite loss at step {bad[0]}; stopped (no update was applied at that step, and the last "
                f"checkpoint is step {mngr.latest_step()}). Lower config.optim.lr or set config.optim.grad_clip")
        dt = time.perf_counter() - t_log
        last = _summary([m for _, m in rows])
        last.update(lr=float(schedule(step - 1)), step_time=dt / n_log,
                    images_per_s=n_log * int(config.data.batch_size) / dt, skipped_images=float(skipped))
        writer.write_scalars(step, last)
        t_log, n_log = time.perf_counter(), 0

    interrupted_at = None
    logging.info("step %d compiles the train step (the slowest step); progress and its ETA start after it", start + 1)
    with _stop_on_sigint() as stop:
        try:
            for step in range(start + 1, num_steps + 1):
                item = next(data_iter)
                host, skipped = item["host"], skipped + item["skipped"]
                state, metrics = step_fn(state, item["batch"])
                pending.append((step, metrics))
                if len(pending) > 1:  # at most two steps in flight: Ctrl-C waits for those, not a whole log window
                    jax.block_until_ready(pending[-2][1])
                n_log += 1
                progress.update(step)  # the first call follows the first compile: the ETA starts there
                stopping = stop["requested"] and step < num_steps  # read once: the flag may flip at any moment
                if step % log_every == 0 or step == num_steps or stopping or mngr.should_save(step):
                    flush_metrics(step)
                    progress.update(step, f"loss {last.get('loss', float('nan')):.4g}")
                if img_every and (step % img_every == 0 or step == num_steps):  # every process; process 0 writes
                    n = min(int(config.log.image_count), host["content"].shape[0])
                    out = np.asarray(render(state.params, state.frozen, host["content"][:n], host["style"][:n]))
                    grid = image_grid([[host["content"][i], host["style"][i], out[i]] for i in range(n)])
                    writer.write_images(step, "grid", grid)
                checkpoint.save(mngr, step, state, cfg_json, data_iter, force=step == num_steps or stopping)
                if stopping:
                    interrupted_at = step
                    break
            flush_metrics(interrupted_at or num_steps)
        finally:
            if hasattr(data_iter, "close"):
                data_iter.close()  # grain worker processes and their shared memory
            progress.close()
            writer.close()
            mngr.wait_until_finished()
            mngr.close()
    if interrupted_at is not None:
        raise Interrupted(interrupted_at)
    return last


#: Exceptions ``train.py`` reports as one ``error:`` line (bad config/data, non-finite loss) instead of a traceback.
USER_ERRORS = (ValueError, FileNotFoundError, TrainingError)


if __name__ == "__main__":  # python -m jaxstyle.train: the `jaxstyle train` command
    from jaxstyle.cli.train import main as _main

    sys.exit(_main(prog="python -m jaxstyle.train"))
