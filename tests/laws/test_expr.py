"""Tests for bayeslaw.laws.expr: the safe formula compiler."""

import copy
import math
import pickle
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bayeslaw.core.errors import LawSpecError
from bayeslaw.laws.expr import FUNCTIONS, Formula, compile_formula
from bayeslaw.laws.grammar import MAX_DEPTH, MAX_LENGTH

jax.config.update("jax_enable_x64", True)

FUNCS = (
    "abs, exp, expm1, log, log10, log1p, log2, logaddexp, logit, max, min, pow, sigmoid, "
    "softplus, sqrt, tanh"
)
WHAT = "formula of law 'x'"
NAMES = ["A", "E", "N", "gamma"]
VALID_NAMES = f"valid names: A, E, N, gamma; functions: {FUNCS}"
VALID_FUNCTIONS = f"valid functions: {FUNCS}"
VALID_ANY = f"valid: numbers; operators + - * / **; names: A, E, N, gamma; functions: {FUNCS}"
CHINCHILLA = "E + exp(a - alpha*log(N)) + exp(b - beta*log(D))"


def rejects(text: str, message: str, names=NAMES, what: str = WHAT) -> None:
    """Assert that compiling `text` fails with exactly `message`."""
    with pytest.raises(LawSpecError, match=re.escape(message)) as info:
        compile_formula(text, names, what=what)
    assert str(info.value) == message


def first_line(text: str, names=NAMES) -> str:
    with pytest.raises(LawSpecError) as info:
        compile_formula(text, names, what=WHAT)
    return str(info.value).splitlines()[0]


# -- evaluation -------------------------------------------------------------------------------

RNG = np.random.default_rng(0)
POS = RNG.uniform(0.1, 5.0, size=20)
REAL = RNG.normal(0.0, 2.0, size=20)
UNIT = RNG.uniform(0.01, 0.99, size=20)
REAL2 = RNG.normal(0.0, 2.0, size=20)

ONE_ARG = {
    "exp": (REAL, np.exp),
    "log": (POS, np.log),
    "log10": (POS, np.log10),
    "log2": (POS, np.log2),
    "log1p": (POS, np.log1p),
    "expm1": (REAL, np.expm1),
    "sqrt": (POS, np.sqrt),
    "abs": (REAL, np.abs),
    "tanh": (REAL, np.tanh),
    "sigmoid": (REAL, lambda x: 1.0 / (1.0 + np.exp(-x))),
    "logit": (UNIT, lambda x: np.log(x / (1.0 - x))),
    "softplus": (REAL, lambda x: np.log(1.0 + np.exp(x))),
}
TWO_ARGS = {
    "min": (REAL, REAL2, np.minimum),
    "max": (REAL, REAL2, np.maximum),
    "pow": (POS, REAL, np.power),
    "logaddexp": (REAL, REAL2, lambda x, y: np.log(np.exp(x) + np.exp(y))),
}


def test_the_whitelist_is_exactly_the_documented_functions():
    assert sorted(FUNCTIONS) == FUNCS.split(", ")
    assert set(ONE_ARG) | set(TWO_ARGS) == set(FUNCTIONS)
    assert all(FUNCTIONS[name][0] == 1 for name in ONE_ARG)
    assert all(FUNCTIONS[name][0] == 2 for name in TWO_ARGS)
    with pytest.raises(TypeError):
        FUNCTIONS["eval"] = (1, eval)  # type: ignore[index]


@pytest.mark.parametrize("name", sorted(ONE_ARG))
def test_one_argument_function_matches_numpy(name):
    x, reference = ONE_ARG[name]
    got = compile_formula(f"{name}(x)", ["x"])({"x": x})
    assert got.dtype == jnp.float64
    np.testing.assert_allclose(np.asarray(got), reference(x), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", sorted(TWO_ARGS))
def test_two_argument_function_matches_numpy(name):
    x, y, reference = TWO_ARGS[name]
    got = compile_formula(f"{name}(x, y)", ["x", "y"])({"x": x, "y": y})
    np.testing.assert_allclose(np.asarray(got), reference(x, y), rtol=1e-12, atol=1e-14)


def test_softplus_is_stable_for_large_arguments():
    f = compile_formula("softplus(x)", ["x"])
    got = np.asarray(f({"x": np.array([-1000.0, 1000.0])}))
    assert got[1] == 1000.0
    assert got[0] >= 0.0 and got[0] < 1e-300


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("-x**2", -(3.0**2)),
        ("2**-a", 2.0**-0.5),
        ("2**-a**2", 2.0 ** -(0.5**2)),
        ("x**a**2", 3.0 ** (0.5**2)),  # ** is right-associative
        ("1 + x * a", 1 + 3.0 * 0.5),
        ("(1 + x) * a", (1 + 3.0) * 0.5),
        ("x - a - 1", 3.0 - 0.5 - 1),
        ("x / a / 2", 3.0 / 0.5 / 2),
        ("-x + +a", -3.0 + 0.5),
        ("x * -a", 3.0 * -0.5),
        ("--x", 3.0),
        ("(-x)**2", 9.0),
        ("(-x)**3", -27.0),
        ("x**-1", 1 / 3.0),
        ("pow(-x, 2)", 9.0),
        ("exp(log(x) * 2)", 9.0),
        ("1e-3 * x + 1_000", 1e-3 * 3.0 + 1000),
        ("7 / 2", 3.5),
        ("1 / 0", math.inf),
    ],
)
def test_operator_precedence_and_arithmetic(text, expected):
    got = compile_formula(text, ["x", "a"])({"x": 3.0, "a": 0.5})
    assert float(got) == pytest.approx(expected, rel=1e-14)


def test_constant_formula_returns_an_array():
    got = compile_formula("2 ** 10", [])({})
    assert isinstance(got, jax.Array)
    assert float(got) == 1024.0


def test_integer_inputs_are_evaluated_as_floats():
    got = compile_formula("N ** -1 + N / 2", ["N"])({"N": np.array([2, 4])})
    np.testing.assert_allclose(np.asarray(got), [1.5, 2.25])


def test_scalar_params_broadcast_against_vector_inputs():
    f = compile_formula("E + A * N ** -alpha", ["E", "A", "N", "alpha"])
    n = np.array([1e6, 1e8, 1e10])
    got = f({"E": 1.7, "A": 400.0, "N": n, "alpha": 0.34})
    assert got.shape == (3,)
    np.testing.assert_allclose(np.asarray(got), 1.7 + 400.0 * n**-0.34, rtol=1e-13)


def test_param_draws_broadcast_against_inputs():
    f = compile_formula("E + A * N ** -alpha", ["E", "A", "N", "alpha"])
    draws = np.array([0.3, 0.35])[:, None]  # (draws, 1) x (runs,)
    n = np.array([1e6, 1e8, 1e10])
    got = f({"E": 1.7, "A": 400.0, "N": n, "alpha": draws})
    assert got.shape == (2, 3)
    np.testing.assert_allclose(np.asarray(got), 1.7 + 400.0 * n**-draws, rtol=1e-13)


def chinchilla_env():
    return {
        "E": 1.69,
        "a": np.log(406.4),
        "alpha": 0.34,
        "b": np.log(410.7),
        "beta": 0.28,
        "N": np.array([1e8, 1e9, 7e10]),
        "D": np.array([2e9, 2e10, 1.4e12]),
    }


def test_jit_equals_eager():
    f = compile_formula(CHINCHILLA, ["E", "a", "alpha", "b", "beta", "N", "D"])
    env = chinchilla_env()
    eager = np.asarray(f(env))
    jitted = np.asarray(jax.jit(f)(env))
    np.testing.assert_allclose(jitted, eager, rtol=1e-14)
    reference = 1.69 + 406.4 / env["N"] ** 0.34 + 410.7 / env["D"] ** 0.28
    np.testing.assert_allclose(eager, reference, rtol=1e-12)


@pytest.mark.parametrize("param", ["E", "a", "alpha", "b", "beta"])
def test_grad_matches_central_finite_difference(param):
    f = compile_formula(CHINCHILLA, ["E", "a", "alpha", "b", "beta", "N", "D"])
    env = chinchilla_env()

    def total(value):
        return jnp.sum(f({**env, param: value}))

    x0 = float(env[param])
    grad = float(jax.jit(jax.grad(total))(x0))
    h = 1e-6
    fd = (float(total(x0 + h)) - float(total(x0 - h))) / (2 * h)
    assert grad == pytest.approx(fd, rel=1e-6)
    assert grad != 0.0


def test_grad_of_integer_power_at_zero_and_negative_base():
    f = compile_formula("x**2 + pow(x, 3)", ["x"])
    g = jax.grad(lambda x: f({"x": x}))
    assert float(g(0.0)) == 0.0
    assert float(g(-2.0)) == pytest.approx(2 * -2.0 + 3 * 4.0)


def test_names_are_in_order_of_first_appearance():
    f = compile_formula(CHINCHILLA, ["D", "N", "beta", "b", "alpha", "a", "E", "unused"])
    assert f.names == ("E", "a", "alpha", "N", "b", "beta", "D")
    assert compile_formula("x * y + x / max(z, y)", ["z", "y", "x"]).names == ("x", "y", "z")
    assert compile_formula("3 * exp(2)", ["x"]).names == ()


def test_formula_keeps_text_and_is_frozen_and_comparable():
    f = compile_formula(" E + N ", ["E", "N"])
    assert isinstance(f, Formula)
    assert f.text == " E + N "
    assert f == compile_formula(" E + N ", ["E", "N", "x"])
    with pytest.raises(AttributeError):
        f.text = "E"  # type: ignore[misc]


def test_formula_survives_pickle_and_deepcopy():
    f = compile_formula(CHINCHILLA, ["E", "a", "alpha", "b", "beta", "N", "D"])
    for g in (pickle.loads(pickle.dumps(f)), copy.deepcopy(f)):
        assert g == f
        np.testing.assert_array_equal(
            np.asarray(g(chinchilla_env())), np.asarray(f(chinchilla_env()))
        )


def test_missing_name_raises_key_error():
    with pytest.raises(KeyError, match="N"):
        compile_formula("E + N", ["E", "N"])({"E": 1.0})


def test_multiline_and_indented_formulas_are_accepted():
    f = compile_formula("\n  (E\n   + N)\n", ["E", "N"])
    assert float(f({"E": 1.0, "N": 2.0})) == 3.0
    assert compile_formula("\tE # irreducible loss\n", ["E"]).names == ("E",)


def test_unicode_names():
    assert float(compile_formula("2 * α", ["α"])({"α": 1.5})) == 3.0


# -- rejected input: exact messages -------------------------------------------------------------


def test_unknown_name():
    rejects(
        "E + A * N ** -gama",
        "unknown name 'gama' in formula of law 'x'\n"
        "  E + A * N ** -gama\n"
        "                ^^^^\n" + VALID_NAMES,
    )


def test_unknown_name_with_unicode_before_it_is_aligned_by_character():
    rejects(
        "α + β",
        "unknown name 'β' in formula\n  α + β\n      ^\nvalid names: α; functions: " + FUNCS,
        names=["α"],
        what="formula",
    )


def test_unknown_name_on_a_later_line_shows_that_line():
    rejects(
        "(E +\n  N * zeta)",
        f"unknown name 'zeta' in {WHAT}\n    N * zeta)\n        ^^^^\n{VALID_NAMES}",
    )


def test_no_allowed_names():
    rejects(
        "x", f"unknown name 'x' in {WHAT}\n  x\n  ^\nvalid names: (none); functions: {FUNCS}", []
    )


def test_attribute_access():
    rejects(
        "N.__class__",
        f"attribute access is not allowed in {WHAT}\n  N.__class__\n   ^^^^^^^^^^\n{VALID_ANY}",
    )


def test_attribute_access_through_a_call():
    rejects(
        "exp(N).real",
        f"attribute access is not allowed in {WHAT}\n  exp(N).real\n        ^^^^^\n{VALID_ANY}",
    )


def test_attribute_as_callee():
    rejects(
        "exp.x(2)",
        f"attribute access is not allowed in {WHAT}\n  exp.x(2)\n     ^^\n{VALID_ANY}",
    )


def test_subscript():
    rejects("N[0] + E", f"subscripts are not allowed in {WHAT}\n  N[0] + E\n   ^^^\n{VALID_ANY}")


def test_syntax_error():
    rejects("E + * N", f"syntax error in {WHAT}\n  E + * N\n      ^\n{VALID_ANY}")


def test_syntax_error_at_end_of_text():
    rejects("E +", f"syntax error in {WHAT}\n  E +\n     ^\n{VALID_ANY}")


def test_syntax_error_with_leading_whitespace_keeps_its_column():
    rejects("  E + * N", f"syntax error in {WHAT}\n    E + * N\n        ^\n{VALID_ANY}")


def test_unclosed_parenthesis():
    rejects("exp(N", f"syntax error in {WHAT}\n  exp(N\n     ^\n{VALID_ANY}")


def test_statement_is_a_syntax_error():
    rejects("N = 2", f"syntax error in {WHAT}\n  N = 2\n    ^\n{VALID_ANY}")


def test_function_not_allowed():
    rejects(
        "foo(N)", f"function 'foo' is not allowed in {WHAT}\n  foo(N)\n  ^^^\n{VALID_FUNCTIONS}"
    )


def test_import_is_not_a_function():
    rejects(
        "__import__('os').system('ls')",
        f"attribute access is not allowed in {WHAT}\n"
        "  __import__('os').system('ls')\n"
        "                  ^^^^^^^\n" + VALID_ANY,
    )
    rejects(
        "__import__('os')",
        f"function '__import__' is not allowed in {WHAT}\n"
        f"  __import__('os')\n  ^^^^^^^^^^\n{VALID_FUNCTIONS}",
    )


def test_builtin_names_are_unknown():
    assert first_line("eval('1')") == f"function 'eval' is not allowed in {WHAT}"
    assert first_line("open") == f"unknown name 'open' in {WHAT}"


def test_wrong_arity():
    rejects(
        "E + exp(N, E)",
        f"'exp' takes 1 argument, got 2 in {WHAT}\n  E + exp(N, E)\n      ^^^^^^^^^\nusage: exp(x)",
    )
    rejects(
        "max(N)", f"'max' takes 2 arguments, got 1 in {WHAT}\n  max(N)\n  ^^^^^^\nusage: max(x, y)"
    )
    assert first_line("log()") == f"'log' takes 1 argument, got 0 in {WHAT}"


def test_keyword_arguments():
    rejects(
        "exp(x=N)",
        f"keyword arguments are not allowed in {WHAT}\n  exp(x=N)\n      ^^^\n{VALID_ANY}",
    )
    assert first_line("exp(**N)") == f"keyword arguments are not allowed in {WHAT}"


def test_star_args():
    rejects("exp(*N)", f"'*args' is not allowed in {WHAT}\n  exp(*N)\n      ^^\n{VALID_ANY}")


def test_function_used_as_a_value():
    rejects(
        "E + exp",
        f"'exp' is a function; call it as exp(...) in {WHAT}\n  E + exp\n      ^^^\n{VALID_NAMES}",
    )


def test_name_called_as_a_function():
    rejects("N(E)", f"'N' is not a function in {WHAT}\n  N(E)\n  ^\n{VALID_FUNCTIONS}")


def test_expression_called_as_a_function():
    rejects(
        "(N + 1)(E)",
        f"only functions can be called in {WHAT}\n  (N + 1)(E)\n   ^^^^^\n{VALID_FUNCTIONS}",
    )


def test_caret_operator_suggests_double_star():
    rejects(
        "N ^ 2", f"'^' is not allowed in {WHAT} (use ** for powers)\n  N ^ 2\n    ^\n{VALID_ANY}"
    )


def test_comparison():
    rejects("N < E", f"'comparison' is not allowed in {WHAT}\n  N < E\n  ^^^^^\n{VALID_ANY}")


@pytest.mark.parametrize(
    ("text", "construct"),
    [
        ("'N'", "string"),
        ("b'N'", "bytes"),
        ("2j", "complex number"),
        ("True", "True"),
        ("False + N", "False"),
        ("None", "None"),
        ("...", "Ellipsis"),
        ("lambda: N", "lambda"),
        ("[v for v in N]", "comprehension"),
        ("{v: v for v in N}", "comprehension"),
        ("sum(v for v in N)", None),
        ("(v for v in N)", "generator expression"),
        ("N if E else A", "if-expression"),
        ("(N := 2)", "walrus (:=)"),
        ("f'{N}'", "f-string"),
        ("(N, E)", "tuple"),
        ("[N]", "list"),
        ("{N: E}", "dict"),
        ("{N}", "set"),
        ("N and E", "and"),
        ("N or E", "or"),
        ("not N", "not"),
        ("~N", "~"),
        ("N % 2", "%"),
        ("N // 2", "//"),
        ("N @ E", "@"),
        ("N << 2", "<<"),
        ("N | E", "|"),
        ("N & E", "&"),
        ("N == E", "comparison"),
        ("N is E", "comparison"),
        ("N in E", "comparison"),
        ("await N", "await"),
        ("(yield N)", "yield"),
    ],
)
def test_rejected_construct_first_line(text, construct):
    expected = (
        f"function 'sum' is not allowed in {WHAT}"
        if construct is None
        else f"'{construct}' is not allowed in {WHAT}"
    )
    assert first_line(text) == expected


def test_rejected_construct_full_message_has_caret_under_node():
    rejects(
        "E + (lambda: N)()",
        f"'lambda' is not allowed in {WHAT}\n  E + (lambda: N)()\n       ^^^^^^^^^\n{VALID_ANY}",
    )
    rejects("N // 2", f"'//' is not allowed in {WHAT}\n  N // 2\n    ^^\n{VALID_ANY}")
    rejects("E + 'N'", f"'string' is not allowed in {WHAT}\n  E + 'N'\n      ^^^\n{VALID_ANY}")


def test_number_out_of_range():
    f32 = "(a 32-bit float holds magnitudes 1.2e-38 to 3.4e+38, or 0)"
    rejects("N * 1e400", f"number out of range in {WHAT} {f32}\n  N * 1e400\n      ^^^^^\n{VALID_ANY}")
    assert first_line("N * " + "9" * 400) == f"number out of range in {WHAT} {f32}"
    # in range for float64 but not for the float32 a GPU fit runs in: 1e300 * 1e-300 passed the
    # load check and ended the fit with 'no starting point ... check the table'
    assert first_line("N * (1e300 * 1e-300)") == f"number out of range in {WHAT} {f32}"
    assert first_line("N + 1e-320") == f"number out of range in {WHAT} {f32}"
    assert compile_formula("N * 3e38 * 2e-38 + 0.0", NAMES).names == ("N",)


def test_huge_integer_power_is_not_evaluated_in_python():
    assert float(compile_formula("9**9**9**9", [])({})) == math.inf


@pytest.mark.parametrize("text", ["", "   ", "\n\t \n"])
def test_empty(text):
    rejects(text, f"{WHAT} is empty")


def test_too_long():
    text = "+".join(["N"] * 1001)  # 2001 characters
    rejects(text, f"{WHAT} is too long (2001 characters, limit 2000)")
    assert MAX_LENGTH == 2000


def test_at_the_length_limit_is_accepted():
    text = "N" + " " * 1999
    assert len(text) == MAX_LENGTH
    assert compile_formula(text, NAMES).names == ("N",)


def test_too_deep_unary_chain():
    # depth counts AST nodes: 49 minus signs and N are 50 levels, one more is too many
    assert compile_formula("-" * (MAX_DEPTH - 1) + "N", NAMES).names == ("N",)
    rejects(
        "-" * MAX_DEPTH + "N",
        f"{WHAT} is nested too deeply (limit 50)\n  {'-' * 50}N\n  {' ' * 50}^\n{VALID_ANY}",
    )


@pytest.mark.parametrize(
    "text",
    [
        "exp(" * 51 + "N" + ")" * 51,
        "N**" * 60 + "N",
        "-" * 1999 + "N",
        "(" * 300 + "N" + ")" * 300,
    ],
)
def test_too_deep(text):
    assert first_line(text) == f"{WHAT} is nested too deeply (limit 50)"


def test_a_long_flat_sum_is_one_level_not_one_per_term():
    """A sum of 47 terms was 'nested too deeply (limit 50)': each left-associated '+' counted as a
    level and was evaluated by one more recursive call (999 terms would overflow the stack)."""
    import jax.numpy as jnp

    total = compile_formula("N+" * 999 + "N", NAMES)
    assert float(total({"N": jnp.asarray(2.0)})) == 2000.0
    mixed = compile_formula("N - 1 - 2 + 3 * N / 2 / 4 * 8", NAMES)  # order and grouping kept
    assert float(mixed({"N": jnp.asarray(4.0)})) == 4 - 1 - 2 + 3 * 4 / 2 / 4 * 8


def test_redundant_parentheses_do_not_count_as_nesting():
    assert compile_formula("(" * 150 + "N" + ")" * 150, NAMES).names == ("N",)


def test_not_a_string():
    rejects(3.0, f"{WHAT} must be a string, got float")


@pytest.mark.parametrize(
    ("name", "reason"),
    [("1x", "not a valid identifier"), ("lambda", "not a valid identifier"),
     ("a b", "not a valid identifier"), ("\ufb01", "not a valid identifier"),
     ("exp", "it is a function")],
)  # fmt: skip
def test_invalid_declared_names(name, reason):
    with pytest.raises(LawSpecError) as info:
        compile_formula("1", ["N", name], what=WHAT)
    assert str(info.value) == f"{name!r} cannot be a name in {WHAT}: {reason}"


def test_names_must_not_be_a_single_string():
    with pytest.raises(TypeError, match="single string"):
        compile_formula("N", "N")


def test_default_what_is_formula():
    with pytest.raises(LawSpecError, match=r"^unknown name 'y' in formula\n"):
        compile_formula("y", ["x"])
