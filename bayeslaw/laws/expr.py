"""Safe formula compiler: a formula string -> a JAX function.

A formula such as ``"E + exp(a - alpha * log(N))"`` is parsed with
``ast.parse(mode="eval")`` and checked against a whitelist (numbers, declared
names, ``+ - * / **``, unary ``+ -`` and the functions in :data:`FUNCTIONS`).
The checked tree is turned once, at compile time, into a tree of closures over
``jax.numpy``; the text is never passed to ``eval``, ``exec`` or ``compile``.
This module is the interface (:func:`compile_formula`, :class:`Formula`, the check of the
declared names); the walk over the tree is :mod:`bayeslaw.laws.compiler`'s.

Errors raise :class:`~bayeslaw.core.errors.LawSpecError`. A message about one token
has four lines: a self-contained sentence, the formula line, carets under the
token, and what is valid there::

    unknown name 'gama' in formula of law 'x'
      E + A * N ** -gama
                    ^^^^
    valid names: A, E, N, gamma; functions: abs, exp, ...

Messages about the text as a whole (empty, too long, not a string) are one line.
"""

from __future__ import annotations

import keyword
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from bayeslaw.core.errors import LawSpecError
from bayeslaw.laws.compiler import Compiler, Evaluator, Source
from bayeslaw.laws.grammar import FUNCTIONS, MAX_LENGTH

__all__ = ["FUNCTIONS", "Formula", "compile_formula"]


@dataclass(frozen=True)
class Formula:
    """A checked formula, callable on a mapping of arrays.

    Attributes
    ----------
    text : str
        The formula as given.
    names : tuple of str
        The free names it uses, in order of first appearance.
    """

    text: str
    names: tuple[str, ...]
    _fn: Evaluator = field(repr=False, compare=False)

    def __call__(self, env: Mapping[str, ArrayLike]) -> jax.Array:
        """Evaluate the formula with ``jax.numpy``.

        Parameters
        ----------
        env : mapping of str to array_like
            A value for every name in :attr:`names` (extra keys are ignored).
            Arrays broadcast against each other; integer and boolean values are
            cast to the default float dtype. Works under ``jax.jit`` and ``jax.grad``.

        Returns
        -------
        jax.Array
            The formula's value, with the broadcast shape of the inputs.

        Raises
        ------
        KeyError
            If a name the formula uses is missing from `env`.
        """
        return jnp.asarray(self._fn({name: _as_float(env[name]) for name in self.names}))

    def numpy(self, env: Mapping[str, ArrayLike]) -> np.ndarray:
        """Evaluate the formula with NumPy in float64, without JAX.

        For checks when a law is loaded: no compilation, so a check costs microseconds. Overflow
        gives ``inf`` and invalid operations (log of a negative number) ``nan``, silently.

        Parameters
        ----------
        env : mapping of str to array_like
            A value for every name in :attr:`names`; arrays broadcast against each other.
        """
        fn = _numpy_program(self.text, self.names)
        values = {name: np.asarray(env[name], dtype=np.float64) for name in self.names}
        with np.errstate(all="ignore"):
            return np.asarray(fn(values), dtype=np.float64)

    def __reduce__(self) -> tuple[Callable, tuple[str, tuple[str, ...]]]:
        # Closures do not pickle; recompiling from the text is cheap and exact.
        return (compile_formula, (self.text, self.names))


def compile_formula(text: str, names: Iterable[str], *, what: str = "formula") -> Formula:
    """Parse and check a formula, and return it as a callable :class:`Formula`.

    Parameters
    ----------
    text : str
        The formula, e.g. ``"E + exp(a - alpha * log(N)) + exp(b - beta * log(D))"``.
    names : iterable of str
        The free names the formula may use (declared inputs and parameters).
    what : str, optional
        Names the formula in error messages, e.g. ``"formula of law 'chinchilla'"``.

    Returns
    -------
    Formula
        The compiled formula.

    Raises
    ------
    LawSpecError
        If the text is empty, longer than :data:`~bayeslaw.laws.grammar.MAX_LENGTH` characters,
        nested deeper than :data:`~bayeslaw.laws.grammar.MAX_DEPTH`, not valid syntax, or uses
        anything outside the whitelist; or if one of `names` is not a usable identifier.
    """
    if not isinstance(text, str):
        raise LawSpecError(f"{what} must be a string, got {type(text).__name__}")
    allowed = _check_names(names, what)
    if len(text) > MAX_LENGTH:
        raise LawSpecError(f"{what} is too long ({len(text)} characters, limit {MAX_LENGTH})")
    if not text.strip():
        raise LawSpecError(f"{what} is empty")
    compiler = Compiler(Source(text), allowed, what)
    fn = compiler.compile(compiler.parse(), 1)
    return Formula(text=text, names=tuple(compiler.used), _fn=fn)


@lru_cache(maxsize=256)
def _numpy_program(text: str, names: tuple[str, ...]) -> Evaluator:
    """The closure tree of an already checked formula over NumPy's functions."""
    compiler = Compiler(Source(text), frozenset(names), "formula", numpy=True)
    return compiler.compile(compiler.parse(), 1)


def _as_float(value: ArrayLike) -> jax.Array:
    array = jnp.asarray(value)
    if not jnp.issubdtype(array.dtype, jnp.inexact):
        array = array.astype(jnp.result_type(float))
    return array


def _check_names(names: Iterable[str], what: str) -> frozenset[str]:
    if isinstance(names, str):
        raise TypeError("names must be an iterable of names, not a single string")
    allowed = frozenset(names)
    for name in sorted(allowed, key=repr):
        if (
            not isinstance(name, str)
            or not name.isidentifier()
            or keyword.iskeyword(name)
            # the parser NFKC-normalises identifiers, so other spellings could never match
            or unicodedata.normalize("NFKC", name) != name
        ):
            raise LawSpecError(f"{name!r} cannot be a name in {what}: not a valid identifier")
        if name in FUNCTIONS:
            raise LawSpecError(f"'{name}' cannot be a name in {what}: it is a function")
    return allowed
