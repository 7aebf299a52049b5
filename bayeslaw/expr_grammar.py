"""What a formula may contain: the whitelisted functions and operators, and the names of the
constructs :mod:`bayeslaw.expr` rejects (used in its error messages)."""

from __future__ import annotations

import ast
import types
from collections.abc import Callable, Mapping

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

__all__ = ["BINOPS", "CONSTRUCTS", "FUNCTIONS", "OPERATOR_SYMBOLS"]


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

BINOPS: dict[type, Callable] = {
    ast.Add: jnp.add,
    ast.Sub: jnp.subtract,
    ast.Mult: jnp.multiply,
    ast.Div: jnp.true_divide,
    ast.Pow: jnp.power,
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
