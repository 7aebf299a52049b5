"""Fuzz tests: mutated law files and random formulas raise only BayeslawError subclasses.

Seeded and fast by default (``BAYESLAW_FUZZ_CASES`` cases of each kind, 400 unless set); the slow
variants run 10,000 of each (``pytest -m slow tests/laws/test_law_fuzz.py``). A failing case prints its
seed and input, so it can be replayed with :func:`mutated_law` or :func:`random_formula`.
"""

from __future__ import annotations

import copy
import math
import os
import random
import signal
import string
import threading
import time
import tomllib
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

import bayeslaw as bl
from bayeslaw.core.errors import BayeslawError
from bayeslaw.laws.expr import FUNCTIONS, compile_formula

MODELS = sorted((Path(__file__).resolve().parents[2] / "models").glob("*.toml"))
CASES = int(os.environ.get("BAYESLAW_FUZZ_CASES", "400"))
SLOW_CASES = 10_000
#: a case slower than this is a hang (a parse is milliseconds; a formula compile well under)
CASE_SECONDS = 5.0


@contextmanager
def deadline(seconds: float):
    """Fail a case that runs past ``seconds`` (SIGALRM on the main thread; elsewhere timed)."""
    start = time.monotonic()
    alarm = hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    if alarm:
        def expire(signum, frame):
            raise TimeoutError(f"case ran past {seconds} s")
        previous = signal.signal(signal.SIGALRM, expire)
        signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        if alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
    assert time.monotonic() - start < seconds, f"case ran past {seconds} s"


# -- a minimal TOML writer (tomllib only reads) ----------------------------------------------------

def _toml_string(text: str) -> str:
    out = []
    for ch in text:
        code = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\u{code:04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_toml_string(k)} = {_toml_value(v)}" for k, v in value.items()) + " }"
    return _toml_string(str(value))  # dates: written as strings


def to_toml(doc: dict) -> str:
    """Every top-level key as ``"key" = <inline value>`` (tables become inline tables)."""
    return "\n".join(f"{_toml_string(k)} = {_toml_value(v)}" for k, v in doc.items()) + "\n"


# -- mutations -------------------------------------------------------------------------------------

def _random_text(rng: random.Random) -> str:
    pools = [string.ascii_letters, string.printable, "EabN_ 0123456789.+-*/()",
             "".join(chr(c) for c in (0x00, 0x7F, 0xA0, 0x2028, 0xFEFF, 0x1D400, 0x10FFFF, 0x3B1, 0xE9))]
    pool = rng.choice(pools)
    return "".join(rng.choice(pool) for _ in range(rng.randint(0, 12)))


def _random_value(rng: random.Random, depth: int = 0):
    kinds = ["nan", "inf", "-inf", "neg", "zero", "huge", "tiny", "int", "bool", "str", "no", "list", "table", "name"]
    kind = rng.choice(kinds if depth < 2 else kinds[:11])
    return {
        "nan": lambda: math.nan, "inf": lambda: math.inf, "-inf": lambda: -math.inf,
        "neg": lambda: -rng.uniform(0, 10), "zero": lambda: 0, "huge": lambda: rng.choice([1e308, 2**63 - 1, 1e20]),
        "tiny": lambda: rng.choice([5e-324, 1e-300, -0.0]), "int": lambda: rng.randint(-3, 3),
        "bool": lambda: rng.random() < 0.5, "str": lambda: _random_text(rng), "no": lambda: rng.choice(["no", "yes", "1"]),
        "list": lambda: [_random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))],
        "table": lambda: {_random_text(rng) or "k": _random_value(rng, depth + 1) for _ in range(rng.randint(0, 2))},
        "name": lambda: rng.choice(["Normal", "Gamma", "Uniform", "TruncatedNormal", "partial", "correlated", "N", "D",
                                    "alpha", "log", "linear", "Binomial", "Beta", "E / 0", "log(-E)", "__import__"]),
    }[kind]()


def _paths(node, prefix=()):
    """Every (path, value) in a parsed document, tables and arrays included."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in items:
        yield prefix + (key,), value
        yield from _paths(value, prefix + (key,))


def _mutate_doc(doc: dict, rng: random.Random) -> None:
    for _ in range(rng.randint(1, 3)):
        paths = [p for p, _ in _paths(doc)]
        path = rng.choice(paths)
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        key = path[-1]
        op = rng.choice(["delete", "replace", "replace", "replace", "swap", "add"])
        if op == "delete":
            del parent[key]
        elif op == "replace":
            parent[key] = _random_value(rng)
        elif op == "swap":  # a copy of another value of the document
            node = doc
            for k in rng.choice(paths):
                node = node[k]
            parent[key] = copy.deepcopy(node)
        elif isinstance(parent, dict):
            parent[_random_text(rng) or "extra"] = _random_value(rng)
        else:
            parent.append(_random_value(rng))


def mutated_law(seed: int) -> tuple[str, bytes]:
    """Case ``seed``: ("doc", TOML text) from a document mutation, or ("bytes", raw file content)."""
    rng = random.Random(seed)
    base = rng.choice(MODELS).read_bytes()
    kind = rng.random()
    if kind < 0.6:
        doc = tomllib.loads(base.decode())
        _mutate_doc(doc, rng)
        return "doc", to_toml(doc).encode()
    data = bytearray(base)
    op = rng.choice(["truncate", "flip", "insert", "splice", "line"])
    if op == "truncate":
        del data[rng.randrange(len(data)):]
    elif op == "flip":
        for _ in range(rng.randint(1, 8)):
            i = rng.randrange(len(data))
            data[i] ^= 1 << rng.randrange(8)
    elif op == "insert":
        i = rng.randrange(len(data))
        data[i:i] = rng.choice([os.urandom(rng.randint(1, 8)), _random_text(rng).encode("utf-8", "surrogatepass")])
    elif op == "splice":  # a value of one line replaced by a random TOML value
        lines = bytes(data).split(b"\n")
        candidates = [i for i, line in enumerate(lines) if b" = " in line and not line.startswith(b"#")]
        i = rng.choice(candidates)
        key = lines[i].split(b" = ")[0]
        lines[i] = key + b" = " + _toml_value(_random_value(rng)).encode("utf-8", "surrogatepass")
        data = bytearray(b"\n".join(lines))
    else:  # a line dropped or doubled
        lines = bytes(data).split(b"\n")
        i = rng.randrange(len(lines))
        lines[i:i + 1] = [] if rng.random() < 0.5 else [lines[i], lines[i]]
        data = bytearray(b"\n".join(lines))
    return "bytes", bytes(data)


def _check_law_case(seed: int, tmp_path: Path) -> None:
    kind, data = mutated_law(seed)
    try:
        with deadline(CASE_SECONDS):
            if kind == "doc":
                bl.parse_law(data.decode(), source=f"<fuzz case {seed}>")
            else:
                path = tmp_path / "case.toml"
                path.write_bytes(data)
                bl.load_law(path)
    except BayeslawError as exc:
        first, *rest = str(exc).split("\n")
        # one line, except a formula's message with its caret lines (see bayeslaw.laws.expr)
        assert first and (not rest or "formula of law" in first or "derived quantity" in first), (seed, str(exc))
    except Exception as exc:  # noqa: BLE001 - the point of the test
        raise AssertionError(f"law fuzz case {seed} raised {type(exc).__name__}: {exc}\n{data[:3000]!r}") from exc


def _run_law_cases(n: int, tmp_path: Path, first_seed: int = 0) -> None:
    for seed in range(first_seed, first_seed + n):
        _check_law_case(seed, tmp_path)


def test_the_writer_round_trips_every_catalogue_file():
    for path in MODELS:
        doc = tomllib.loads(path.read_text())
        assert tomllib.loads(to_toml(doc)) == doc
        law = bl.parse_law(to_toml(doc))
        assert law.params.keys() == bl.load_law(path).params.keys()


def test_mutated_law_files_raise_only_bayeslaw_errors(tmp_path):
    _run_law_cases(CASES, tmp_path)


@pytest.mark.slow
def test_mutated_law_files_raise_only_bayeslaw_errors_10000(tmp_path):
    _run_law_cases(SLOW_CASES, tmp_path, first_seed=1_000_000)


# -- random formulas -------------------------------------------------------------------------------

NAMES = ["E", "N", "alpha", "a"]
ATOMS = NAMES + ["1", "0", "2.5", "1e308", "1e999", "9" * 400, "0x1F", "1_000", "1j", "True", "None", "...",
                 "'s'", "b'x'", "f'{E}'", "__import__", "__class__", "os", "eval", "exec", "open", "lambda: 0",
                 "sigma", "E.real", "E.__class__", "[1]", "{1: 2}", "(E, N)", "x", "é", "ℕ"]
TOKENS = ATOMS + list("+-*/()[]{},.:;=<>!~^&|@%'\"\\#$?` \t\n") + ["**", "//", "==", "<=", ">>", "<<", ":=",
                                                                    "->", "if", "else", "for", "in", "not",
                                                                    "and", "or", "lambda", "yield", "await",
                                                                    *FUNCTIONS]
CALLABLES = [*FUNCTIONS, "eval", "exec", "getattr", "__import__", "print", "E", "lambda x: x", "(E)", "E.exp",
             "type(E)", "sigmoid.__call__"]
BINARY = ["+", "-", "*", "/", "**", "//", "%", "@", "<<", "^", "|", "&", " and ", " or ", " < ", " == ", " if E else "]
UNARY = ["-", "+", "~", "not "]


def _random_ast(rng: random.Random, depth: int) -> str:
    if depth <= 0 or rng.random() < 0.2:
        return rng.choice(ATOMS)
    kind = rng.choice(["binary", "binary", "unary", "call", "call", "paren", "attr", "subscript", "lambda",
                       "comprehension", "deep", "dunder", "starred", "keyword"])
    sub = lambda: _random_ast(rng, depth - 1)  # noqa: E731
    if kind == "binary":
        return f"{sub()}{rng.choice(BINARY)}{sub()}"
    if kind == "unary":
        return f"{rng.choice(UNARY)}{sub()}"
    if kind == "call":
        args = ", ".join(sub() for _ in range(rng.choice([0, 1, 1, 2, 2, 3])))
        return f"{rng.choice(CALLABLES)}({args})"
    if kind == "paren":
        return f"({sub()})"
    if kind == "attr":
        return f"({sub()}).{rng.choice(['real', '__class__', '__globals__', 'exp', 'T'])}"
    if kind == "subscript":
        return f"{sub()}[{sub()}]"
    if kind == "lambda":
        return f"(lambda E: {sub()})(1)"
    if kind == "comprehension":
        return f"sum([{sub()} for E in range(10)])"
    if kind == "deep":
        n = rng.choice([10, 49, 50, 51, 99, 101, 250, 1000])
        wrap = rng.choice([("(", ")"), ("exp(", ")"), ("-", ""), ("E+", ""), ("[", "]")])
        return wrap[0] * n + sub() + wrap[1] * n
    if kind == "dunder":
        return f"{sub()}.__class__.__mro__[1].__subclasses__()"
    if kind == "starred":
        return f"max(*{sub()})"
    return f"min({sub()}, x={sub()})"


def random_formula(seed: int) -> str:
    """Case ``seed``: random tokens, or a random expression from a small grammar."""
    rng = random.Random(seed)
    if rng.random() < 0.3:
        return "".join(rng.choice(TOKENS) for _ in range(rng.randint(0, 40)))
    return _random_ast(rng, rng.randint(1, 6))


def _check_formula_case(seed: int) -> None:
    text = random_formula(seed)
    try:
        with deadline(CASE_SECONDS):
            formula = compile_formula(text, NAMES, what=f"fuzz formula {seed}")
            env = {"E": np.array([0.5, 2.0]), "N": np.array([1e6, 1e12]), "alpha": np.array([0.3, -1.0]),
                   "a": np.array([0.0, 50.0])}
            formula.numpy(env)  # the load-time evaluator must not raise either
    except BayeslawError:
        pass
    except Exception as exc:  # noqa: BLE001 - the point of the test
        raise AssertionError(f"formula fuzz case {seed} raised {type(exc).__name__}: {exc}\n{text[:3000]!r}") from exc


def test_random_formulas_raise_only_bayeslaw_errors():
    for seed in range(CASES):
        _check_formula_case(seed)


@pytest.mark.slow
def test_random_formulas_raise_only_bayeslaw_errors_10000():
    for seed in range(1_000_000, 1_000_000 + SLOW_CASES):
        _check_formula_case(seed)
