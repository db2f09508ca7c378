"""Dense FLOPs of a JAX function, counted from its jaxpr (matmuls and convolutions, loops times their trip count).

XLA's ``cost_analysis()`` counts the body of a ``lax.map`` / ``fori_loop`` / ``scan`` once, not once per
iteration, so it undercounts every blocked computation (the GNN's NCC blocks, AdaAttN's query blocks). Here each
``dot_general`` and ``conv_general_dilated`` counts ``2 × multiply-adds`` and a ``scan`` multiplies its body by its
``length``; element-wise work is not counted (it is what the matmul ceiling does not measure either).
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any, Callable

import jax
from jax.extend import core as jcore


def _sub_jaxprs(value: Any):
    if isinstance(value, jcore.ClosedJaxpr):
        yield value.jaxpr
    elif isinstance(value, jcore.Jaxpr):
        yield value
    elif isinstance(value, (tuple, list)):
        for v in value:
            yield from _sub_jaxprs(v)


def _count(jaxpr) -> Counter:
    """FLOPs by the operands' dtype (the left operand's: what the multiplier units read)."""
    total: Counter = Counter()
    for eqn in jaxpr.eqns:
        name = eqn.primitive.name
        if name == "dot_general":
            (lhs_contract, _), _ = eqn.params["dimension_numbers"]
            lhs = eqn.invars[0].aval
            total[str(lhs.dtype)] += (2.0 * math.prod(eqn.outvars[0].aval.shape)
                                      * math.prod(lhs.shape[i] for i in lhs_contract))
        elif name == "conv_general_dilated":
            rhs = eqn.invars[1].aval.shape
            out_feature_dim = eqn.params["dimension_numbers"].rhs_spec[0]
            total[str(eqn.invars[0].aval.dtype)] += (2.0 * math.prod(eqn.outvars[0].aval.shape) * math.prod(rhs)
                                                     / rhs[out_feature_dim])
        inner = [_count(j) for v in eqn.params.values() for j in _sub_jaxprs(v)]
        if not inner:
            continue
        if name == "cond":  # one branch runs: count the dearest
            total += max(inner, key=lambda c: sum(c.values()))
        elif name == "scan":
            for c in inner:
                total += Counter({k: eqn.params["length"] * v for k, v in c.items()})
        else:  # pjit, custom_jvp/vjp, remat, while (trip count unknown: once)
            for c in inner:
                total += c
    return total


def flops_by_dtype_of_jaxpr(jaxpr: jcore.ClosedJaxpr | jcore.Jaxpr) -> dict[str, float]:
    """The matmul / convolution FLOPs of a (closed) jaxpr by the operands' dtype, e.g. ``{"bfloat16": 9.1e9,
    "float32": 0.4e9}`` (e.g. of ``jax.jit(f).trace(*args).jaxpr``)."""
    return dict(_count(jaxpr.jaxpr if isinstance(jaxpr, jcore.ClosedJaxpr) else jaxpr))


def flops_by_dtype(fn: Callable, *args: Any) -> dict[str, float]:
    """:func:`dense_flops` split by the operands' dtype."""
    return flops_by_dtype_of_jaxpr(jax.make_jaxpr(fn)(*args))


def dense_flops(fn: Callable, *args: Any) -> float:
    """FLOPs of ``fn(*args)``'s matmuls and convolutions (2 per multiply-add), loop bodies times their trips."""
    return float(sum(flops_by_dtype(fn, *args).values()))
