"""The checker behind :func:`~bayeslaw.laws.expr.compile_formula`: it walks a formula's AST
against the whitelist of :mod:`bayeslaw.laws.grammar` and, as it checks, turns the tree into one
of closures.

:class:`Compiler` walks the tree once; each node it accepts becomes a closure over ``jax.numpy``
(or NumPy, for checks when a law is loaded), and each node it refuses becomes a
:class:`~bayeslaw.core.errors.LawSpecError` whose caret lines :class:`Source` draws under the
offending token of the text as given.
"""

from __future__ import annotations

import ast
import math
import re
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from bayeslaw.core.errors import LawSpecError
from bayeslaw.core.runtime import FLOAT32_RANGE, float32_problem
from bayeslaw.laws.fields import as_float
from bayeslaw.laws.grammar import (
    BINOPS,
    CONSTRUCTS,
    FUNCTIONS,
    MAX_DEPTH,
    NUMPY_BINOPS,
    NUMPY_FUNCTIONS,
    OPERATOR_SYMBOLS,
)

__all__ = ["Compiler", "Evaluator", "Source"]

#: a compiled node: the values of the formula's names -> the node's value
Evaluator = Callable[[Mapping[str, jax.Array]], Any]
#: operators whose left-associated runs compile as one loop (:meth:`Compiler._chain`), by group
_CHAINED = {ast.Add: "sum", ast.Sub: "sum", ast.Mult: "product", ast.Div: "product"}

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_MAX_INT_EXPONENT = 2**31 - 1


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


class Source:
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


class Compiler:
    """Checks an AST against the whitelist while building its closure tree."""

    def __init__(self, source: Source, allowed: frozenset[str], what: str, numpy: bool = False) -> None:
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

    def compile(self, node: ast.expr, depth: int) -> Evaluator:
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

    def _constant(self, node: ast.Constant) -> Evaluator:
        value = node.value
        if isinstance(value, bool) or value is None or value is Ellipsis:
            construct = repr(value)
        elif isinstance(value, str | bytes | complex):
            construct = {str: "string", bytes: "bytes", complex: "complex number"}[type(value)]
        else:
            number = as_float(value)
            if not math.isfinite(number) or float32_problem(number) is not None:
                raise self._fail(f"number out of range in {self.what} (a 32-bit float holds magnitudes "
                                 f"{FLOAT32_RANGE[0]:.1e} to {FLOAT32_RANGE[1]:.1e}, or 0)", self._at(node))
            return lambda env: number
        raise self._fail(f"'{construct}' is not allowed in {self.what}", self._at(node))

    def _name(self, node: ast.Name) -> Evaluator:
        name = node.id
        if name in self.allowed:
            self.used[name] = None
            return lambda env: env[name]
        if name in FUNCTIONS:
            first = f"'{name}' is a function; call it as {name}(...) in {self.what}"
        else:
            first = f"unknown name '{name}' in {self.what}"
        raise self._fail(first, self._at(node), self.valid_names)

    def _binop(self, node: ast.BinOp, depth: int) -> Evaluator:
        op = self.binops.get(type(node.op))
        if op is None:
            symbol = OPERATOR_SYMBOLS[type(node.op)]
            hint = " (use ** for powers)" if symbol == "^" else ""
            first = f"'{symbol}' is not allowed in {self.what}{hint}"
            raise self._fail(first, self._at_operator(node, symbol))
        if type(node.op) in _CHAINED:
            return self._chain(node, depth)
        left = self.compile(node.left, depth + 1)
        right = self.compile(node.right, depth + 1)
        exponent = _small_int(node.right) if isinstance(node.op, ast.Pow) else None
        if exponent is not None:
            # an int exponent traces to integer_pow: exact for negative bases, clean gradient
            power = self.power
            return lambda env: power(left(env), exponent)
        return lambda env: op(left(env), right(env))

    def _chain(self, node: ast.BinOp, depth: int) -> Evaluator:
        """A left-associated run of ``+``/``-`` (or ``*``/``/``), e.g. a law's sum of terms, as one
        level evaluated by a loop: a sum of 60 terms is as deep as one of two (the tree Python
        parses it into is 60 levels deep, which would count against :data:`MAX_DEPTH` and recurse
        once per term)."""
        group, links = _CHAINED[type(node.op)], []
        while isinstance(node, ast.BinOp) and _CHAINED.get(type(node.op)) == group:
            links.append((type(node.op), node.right))
            node = node.left
        first = self.compile(node, depth + 1)  # in reading order: names are listed as they appear
        steps = [(self.binops[op], self.compile(right, depth + 1)) for op, right in reversed(links)]

        def run(env):
            value = first(env)
            for op, term in steps:
                value = op(value, term(env))
            return value
        return run

    def _unaryop(self, node: ast.UnaryOp, depth: int) -> Evaluator:
        if not isinstance(node.op, ast.USub | ast.UAdd):
            symbol = OPERATOR_SYMBOLS[type(node.op)]
            raise self._fail(f"'{symbol}' is not allowed in {self.what}", self._at(node))
        operand = self.compile(node.operand, depth + 1)
        if isinstance(node.op, ast.UAdd):
            return operand
        negative = self.negative
        return lambda env: negative(operand(env))

    def _call(self, node: ast.Call, depth: int) -> Evaluator:
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
