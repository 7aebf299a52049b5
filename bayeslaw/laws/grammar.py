"""What a formula may contain: its size limits, the whitelisted functions and operators, and the
names of the constructs :mod:`bayeslaw.laws.expr` rejects (used in its error messages)."""

from __future__ import annotations

import ast
import types
from collections.abc import Callable, Mapping

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

__all__ = ["BINOPS", "CONSTRUCTS", "FUNCTIONS", "MAX_DEPTH", "MAX_LENGTH", "NUMPY_BINOPS",
           "NUMPY_FUNCTIONS", "OPERATOR_SYMBOLS"]

#: the longest formula accepted, in characters
MAX_LENGTH = 2000
#: the deepest nesting of operators and calls accepted (checking and evaluating recurse once per level)
MAX_DEPTH = 50


def _logit(x: ArrayLike) -> jax.Array:
    return jnp.log(x) - jnp.log1p(-x)


FUNCTIONS: Mapping[str, tuple[int, Callable]] = types.MappingProxyType(
    {
        "exp": (1, jnp.exp),
        "log": (1, jnp.log),
        "log10": (1, jnp.log10),
        "log2": (1, jnp.log2),
        "log1p": (1, jnp.log1p),
        "expm1": (1, jnp.expm1),
        "sqrt": (1, jnp.sqrt),
        "abs": (1, jnp.abs),
        "tanh": (1, jnp.tanh),
        "sigmoid": (1, jax.nn.sigmoid),
        "logit": (1, _logit),
        "softplus": (1, jax.nn.softplus),  # logaddexp(x, 0): stable for large |x|
        "min": (2, jnp.minimum),
        "max": (2, jnp.maximum),
        "pow": (2, jnp.power),
        "logaddexp": (2, jnp.logaddexp),
    }
)

def _np_sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _np_logit(x: np.ndarray) -> np.ndarray:
    return np.log(x) - np.log1p(-x)


def _np_softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(x, 0.0)


#: the same functions in NumPy (float64, no compilation), for checks when a law is loaded
NUMPY_FUNCTIONS: Mapping[str, tuple[int, Callable]] = types.MappingProxyType(
    {
        "exp": (1, np.exp),
        "log": (1, np.log),
        "log10": (1, np.log10),
        "log2": (1, np.log2),
        "log1p": (1, np.log1p),
        "expm1": (1, np.expm1),
        "sqrt": (1, np.sqrt),
        "abs": (1, np.abs),
        "tanh": (1, np.tanh),
        "sigmoid": (1, _np_sigmoid),
        "logit": (1, _np_logit),
        "softplus": (1, _np_softplus),
        "min": (2, np.minimum),
        "max": (2, np.maximum),
        "pow": (2, np.power),
        "logaddexp": (2, np.logaddexp),
    }
)

BINOPS: dict[type, Callable] = {
    ast.Add: jnp.add,
    ast.Sub: jnp.subtract,
    ast.Mult: jnp.multiply,
    ast.Div: jnp.true_divide,
    ast.Pow: jnp.power,
}
NUMPY_BINOPS: dict[type, Callable] = {
    ast.Add: np.add,
    ast.Sub: np.subtract,
    ast.Mult: np.multiply,
    ast.Div: np.true_divide,
    ast.Pow: np.power,
}
OPERATOR_SYMBOLS: dict[type, str] = {
    ast.Mod: "%", ast.FloorDiv: "//", ast.MatMult: "@", ast.LShift: "<<",
    ast.RShift: ">>", ast.BitOr: "|", ast.BitXor: "^", ast.BitAnd: "&",
    ast.Not: "not", ast.Invert: "~", ast.And: "and", ast.Or: "or",
}  # fmt: skip
CONSTRUCTS: dict[type, str] = {
    ast.Compare: "comparison", ast.Lambda: "lambda", ast.IfExp: "if-expression",
    ast.NamedExpr: "walrus (:=)", ast.JoinedStr: "f-string", ast.Tuple: "tuple",
    ast.List: "list", ast.Dict: "dict", ast.Set: "set", ast.ListComp: "comprehension",
    ast.SetComp: "comprehension", ast.DictComp: "comprehension",
    ast.GeneratorExp: "generator expression", ast.Starred: "*args", ast.Await: "await",
    ast.Yield: "yield", ast.YieldFrom: "yield", ast.Slice: "slice",
}  # fmt: skip
