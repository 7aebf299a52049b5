"""Safe formula compiler: a formula string -> a JAX function.

A formula such as ``"E + exp(a - alpha * log(N))"`` is parsed with
``ast.parse(mode="eval")`` and checked against a whitelist (numbers, declared
names, ``+ - * / **``, unary ``+ -`` and the functions in :data:`FUNCTIONS`).
The checked tree is turned once, at compile time, into a tree of closures over
``jax.numpy``; the text is never passed to ``eval``, ``exec`` or ``compile``.

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

import ast
import keyword
import math
import re
import unicodedata
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from bayeslaw.core.errors import LawSpecError
from bayeslaw.laws.grammar import (
    BINOPS,
    CONSTRUCTS,
    FUNCTIONS,
    NUMPY_BINOPS,
    NUMPY_FUNCTIONS,
    OPERATOR_SYMBOLS,
)

__all__ = ["FUNCTIONS", "MAX_DEPTH", "MAX_LENGTH", "Formula", "compile_formula"]

MAX_LENGTH = 2000
MAX_DEPTH = 50

_Evaluator = Callable[[Mapping[str, jax.Array]], Any]


_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_MAX_INT_EXPONENT = 2**31 - 1


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
    _fn: _Evaluator = field(repr=False, compare=False)

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
        If the text is empty, longer than ``MAX_LENGTH`` characters, nested deeper
        than ``MAX_DEPTH``, not valid syntax, or uses anything outside the whitelist;
        or if one of `names` is not a usable identifier.
    """
    if not isinstance(text, str):
        raise LawSpecError(f"{what} must be a string, got {type(text).__name__}")
    allowed = _check_names(names, what)
    if len(text) > MAX_LENGTH:
        raise LawSpecError(f"{what} is too long ({len(text)} characters, limit {MAX_LENGTH})")
    if not text.strip():
        raise LawSpecError(f"{what} is empty")
    compiler = _Compiler(_Source(text), allowed, what)
    fn = compiler.compile(compiler.parse(), 1)
    return Formula(text=text, names=tuple(compiler.used), _fn=fn)


@lru_cache(maxsize=256)
def _numpy_program(text: str, names: tuple[str, ...]) -> _Evaluator:
    """The closure tree of an already checked formula over NumPy's functions."""
    compiler = _Compiler(_Source(text), frozenset(names), "formula", numpy=True)
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


def _small_int(node: ast.expr) -> int | None:
    """The value of an integer literal such as ``2`` or ``-1``, else None."""
    sign = 1
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        sign = -1 if isinstance(node.op, ast.USub) else 1
        node = node.operand
    if (
        isinstance(node, ast.Constant)
        and type(node.value) is int
        and abs(node.value) <= _MAX_INT_EXPONENT
    ):
        return sign * node.value
    return None


class _Source:
    """The text as given, the text as parsed, and caret lines between the two."""

    def __init__(self, text: str) -> None:
        self.lines = _LINE_BREAK.split(text)
        # eval mode rejects leading indentation; strip it and shift positions back.
        body = text.lstrip(" \t\f\r\n")
        lead = _LINE_BREAK.split(text[: len(text) - len(body)])
        self.line_shift = len(lead) - 1
        self.col_shift = len(lead[-1])
        # a trailing newline makes "E +" report its error at the end, not at column 0
        self.parsed = body + "\n"
        self.parsed_lines = _LINE_BREAK.split(self.parsed)

    def char_col(self, lineno: int, byte_col: int) -> int:
        """Turn an AST (line, UTF-8 byte offset) into a character offset."""
        line = self.parsed_lines[lineno - 1] if 0 < lineno <= len(self.parsed_lines) else ""
        return len(line.encode("utf-8")[:byte_col].decode("utf-8", "ignore"))

    def caret(self, lineno: int, start: int, end_lineno: int, end: int) -> str:
        """The formula line and a caret line, from parsed (line, character) positions."""
        index = lineno - 1 + self.line_shift
        line = self.lines[index] if 0 <= index < len(self.lines) else ""
        shift = self.col_shift if lineno == 1 else 0
        start = max(0, min(start + shift, len(line)))
        end = end + shift if end_lineno == lineno else len(line)
        shown = line.replace("\t", " ").replace("\f", " ")
        return f"  {shown}\n  {' ' * start}{'^' * max(1, end - start)}"


class _Compiler:
    """Checks an AST against the whitelist while building its closure tree."""

    def __init__(self, source: _Source, allowed: frozenset[str], what: str, numpy: bool = False) -> None:
        self.source, self.allowed, self.what = source, allowed, what
        self.binops, self.functions = (NUMPY_BINOPS, NUMPY_FUNCTIONS) if numpy else (BINOPS, FUNCTIONS)
        self.power, self.negative = (np.power, np.negative) if numpy else (jnp.power, jnp.negative)
        self.used: dict[str, None] = {}  # an ordered set
        funcs = ", ".join(sorted(FUNCTIONS))
        names = ", ".join(sorted(allowed)) or "(none)"
        self.valid_names = f"valid names: {names}; functions: {funcs}"
        self.valid_functions = f"valid functions: {funcs}"
        self.valid_any = f"valid: numbers; operators + - * / **; names: {names}; functions: {funcs}"

    def _fail(self, first: str, caret: str, valid: str | None = None) -> LawSpecError:
        return LawSpecError(f"{first}\n{caret}\n{valid or self.valid_any}")

    def _at(self, node: ast.AST, start_node: ast.AST | None = None) -> str:
        """Caret under `node`, or from the end of `start_node` to the end of `node`."""
        if start_node is None:
            lineno, col = node.lineno, node.col_offset
        else:
            lineno, col = start_node.end_lineno, start_node.end_col_offset
        start = self.source.char_col(lineno, col)
        end = self.source.char_col(node.end_lineno, node.end_col_offset)
        return self.source.caret(lineno, start, node.end_lineno, end)

    def _at_operator(self, node: ast.BinOp, symbol: str) -> str:
        """Caret under a binary operator, found between its operands."""
        left, right = node.left, node.right
        if left.end_lineno == right.lineno:
            line = self.source.parsed_lines[left.end_lineno - 1]
            lo = self.source.char_col(left.end_lineno, left.end_col_offset)
            hi = self.source.char_col(right.lineno, right.col_offset)
            found = line.find(symbol, lo, hi)
            if found >= 0:
                return self.source.caret(left.end_lineno, found, right.lineno, found + len(symbol))
        return self._at(node)

    def parse(self) -> ast.expr:
        too_deep = f"{self.what} is nested too deeply (limit {MAX_DEPTH})"
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # e.g. invalid escapes in a string literal
                return ast.parse(self.source.parsed, mode="eval").body
        except SyntaxError as err:
            first = too_deep if err.msg == "too many nested parentheses" else None
            first = first or f"syntax error in {self.what}"
            if not err.lineno or not err.offset:
                raise LawSpecError(first) from None
            start = err.offset - 1
            end = start + 1
            if err.end_lineno == err.lineno and err.end_offset and err.end_offset > err.offset:
                end = err.end_offset - 1
            raise self._fail(first, self.source.caret(err.lineno, start, err.lineno, end)) from None
        except (RecursionError, MemoryError):
            raise LawSpecError(too_deep) from None
        except ValueError:  # null bytes on some Python versions
            raise LawSpecError(f"syntax error in {self.what}") from None

    def compile(self, node: ast.expr, depth: int) -> _Evaluator:
        what = self.what
        if depth > MAX_DEPTH:
            raise self._fail(f"{what} is nested too deeply (limit {MAX_DEPTH})", self._at(node))
        if isinstance(node, ast.Constant):
            return self._constant(node)
        if isinstance(node, ast.Name):
            return self._name(node)
        if isinstance(node, ast.BinOp):
            return self._binop(node, depth)
        if isinstance(node, ast.UnaryOp):
            return self._unaryop(node, depth)
        if isinstance(node, ast.Call):
            return self._call(node, depth)
        if isinstance(node, ast.Attribute):
            caret = self._at(node, start_node=node.value)
            raise self._fail(f"attribute access is not allowed in {what}", caret)
        if isinstance(node, ast.Subscript):
            caret = self._at(node, start_node=node.value)
            raise self._fail(f"subscripts are not allowed in {what}", caret)
        if isinstance(node, ast.BoolOp):
            construct = OPERATOR_SYMBOLS[type(node.op)]
        else:
            construct = CONSTRUCTS.get(type(node), type(node).__name__)
        raise self._fail(f"'{construct}' is not allowed in {what}", self._at(node))

    def _constant(self, node: ast.Constant) -> _Evaluator:
        value = node.value
        if isinstance(value, bool) or value is None or value is Ellipsis:
            construct = repr(value)
        elif isinstance(value, str | bytes | complex):
            construct = {str: "string", bytes: "bytes", complex: "complex number"}[type(value)]
        else:
            try:
                number = float(value)
            except OverflowError:
                number = math.inf
            if not math.isfinite(number):
                raise self._fail(f"number out of range in {self.what}", self._at(node))
            return lambda env: number
        raise self._fail(f"'{construct}' is not allowed in {self.what}", self._at(node))

    def _name(self, node: ast.Name) -> _Evaluator:
        name = node.id
        if name in self.allowed:
            self.used[name] = None
            return lambda env: env[name]
        if name in FUNCTIONS:
            first = f"'{name}' is a function; call it as {name}(...) in {self.what}"
        else:
            first = f"unknown name '{name}' in {self.what}"
        raise self._fail(first, self._at(node), self.valid_names)

    def _binop(self, node: ast.BinOp, depth: int) -> _Evaluator:
        op = self.binops.get(type(node.op))
        if op is None:
            symbol = OPERATOR_SYMBOLS[type(node.op)]
            hint = " (use ** for powers)" if symbol == "^" else ""
            first = f"'{symbol}' is not allowed in {self.what}{hint}"
            raise self._fail(first, self._at_operator(node, symbol))
        left = self.compile(node.left, depth + 1)
        right = self.compile(node.right, depth + 1)
        exponent = _small_int(node.right) if isinstance(node.op, ast.Pow) else None
        if exponent is not None:
            # an int exponent traces to integer_pow: exact for negative bases, clean gradient
            power = self.power
            return lambda env: power(left(env), exponent)
        return lambda env: op(left(env), right(env))

    def _unaryop(self, node: ast.UnaryOp, depth: int) -> _Evaluator:
        if not isinstance(node.op, ast.USub | ast.UAdd):
            symbol = OPERATOR_SYMBOLS[type(node.op)]
            raise self._fail(f"'{symbol}' is not allowed in {self.what}", self._at(node))
        operand = self.compile(node.operand, depth + 1)
        if isinstance(node.op, ast.UAdd):
            return operand
        negative = self.negative
        return lambda env: negative(operand(env))

    def _call(self, node: ast.Call, depth: int) -> _Evaluator:
        what, func = self.what, node.func
        if not isinstance(func, ast.Name):
            self.compile(func, depth + 1)  # attribute access, subscripts, ... fail here
            raise self._fail(
                f"only functions can be called in {what}", self._at(func), self.valid_functions
            )
        name = func.id
        if name not in FUNCTIONS:
            first = (
                f"'{name}' is not a function in {what}"
                if name in self.allowed
                else f"function '{name}' is not allowed in {what}"
            )
            raise self._fail(first, self._at(func), self.valid_functions)
        if node.keywords:
            raise self._fail(
                f"keyword arguments are not allowed in {what}", self._at(node.keywords[0])
            )
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                raise self._fail(f"'*args' is not allowed in {what}", self._at(arg))
        arity, impl = self.functions[name]
        if len(node.args) != arity:
            plural = "argument" if arity == 1 else "arguments"
            usage = f"usage: {name}({', '.join('xy'[:arity])})"
            first = f"'{name}' takes {arity} {plural}, got {len(node.args)} in {what}"
            raise self._fail(first, self._at(node), usage)
        args = [self.compile(arg, depth + 1) for arg in node.args]
        if arity == 1:
            (x,) = args
            return lambda env: impl(x(env))
        x, y = args
        exponent = _small_int(node.args[1]) if name == "pow" else None
        if exponent is not None:
            power = self.power
            return lambda env: power(x(env), exponent)
        return lambda env: impl(x(env), y(env))
