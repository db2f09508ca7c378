"""Training state and the jitted train step (the functional boundary around NNX models)."""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax
from flax import nnx

Batch = dict[str, jax.Array]


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

    The state gets its own copy of the arrays: train steps donate it, and ``model`` stays usable.
    """
    graphdef, params, frozen = jax.tree.map(jnp.copy, split_model(model))
    return graphdef, TrainState(jnp.zeros((), jnp.int32), params, frozen, tx.init(params))


def default_loss(model: nnx.Module, batch: Batch) -> tuple[jax.Array, dict[str, jax.Array]]:
    """``model.loss(content, style)`` for a batch ``{"content": [B,H,W,3], "style": [B,Hs,Ws,3]}``."""
    return model.loss(batch["content"], batch["style"])


def make_train_step(graphdef: nnx.GraphDef, tx: optax.GradientTransformation,
                    loss_fn: Callable[[nnx.Module, Batch], tuple[jax.Array, dict[str, Any]]] = default_loss,
                    ) -> Callable[[TrainState, Batch], tuple[TrainState, dict[str, jax.Array]]]:
    """A jitted ``step(state, batch) -> (state, metrics)``; the input state is donated.

    Metrics hold ``loss`` and every auxiliary term of ``loss_fn``, as float32 scalars (batch means).
    """

    def step(state: TrainState, batch: Batch):
        def objective(params):
            return loss_fn(nnx.merge(graphdef, params, state.frozen), batch)

        (loss, aux), grads = jax.value_and_grad(objective, has_aux=True)(state.params)
        updates, opt_state = tx.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        return state._replace(step=state.step + 1, params=params, opt_state=opt_state), {"loss": loss, **aux}

    return jax.jit(step, donate_argnums=(0,))
