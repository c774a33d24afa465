"""The expression parser: precedence as in Python, errors with the right column, hostile input refused."""

from __future__ import annotations

import math
from functools import partial

import pytest

from dlcli.activations.formula import functions
from dlcli.errors import InputError
from dlcli.expr import parser
from dlcli.expr.parser import ExprError, tokenize
from dlcli.graph import computation
from dlcli.graph.computation import backprop

LIBRARY = functions(entries={})  # every activation, none of the user's: as `dlcli graph` passes them
build = partial(computation.build, functions=LIBRARY)
parse = partial(parser.parse, functions=LIBRARY)


def value_of(expression: str, **values: float) -> float:
    return backprop(build(expression), values).value


@pytest.mark.parametrize(
    ("expression", "expected"),
    [  # Python's own precedence and associativity rules, worked by hand
        ("2*3+4*5", 26.0),
        ("10-2-3", 5.0),
        ("8/4/2", 1.0),
        ("2**3**2", 512.0),  # right-associative
        ("-2**2", -4.0),  # unary minus binds looser than **
        ("2**-1*4", 2.0),  # a sign may follow **, and ** binds tighter than *
        ("-(1+2)*3", -9.0),
        ("--3", 3.0),
        ("+3-+2", 1.0),
        ("((((7))))", 7.0),
        (".5e1 + 1.", 6.0),
        ("max(1, 5, 3) - min(4, -2)", 7.0),
        ("leaky_relu(-10, alpha=0.1)", -1.0),
        ("lrelu(-10, alpha = 0.25)", -2.5),  # aliases resolve to the registry's function
        ("abs(-3) + sqrt(16) + exp(0) + log(1) + sin(0) + cos(0)", 9.0),
    ],
)
def test_precedence_and_functions(expression, expected):
    assert value_of(expression) == expected


def test_syntax_tree_of_notes_circuit():
    tree = parse("(x+y)*z")
    assert tree.kind == "mul"
    assert [child.kind for child in tree.children] == ["add", "name"]
    assert tree.children[0].start == 0 and tree.children[0].end == 5  # "(x+y)" with its parentheses


@pytest.mark.parametrize(
    ("expression", "column", "words"),
    [  # column is 1-based, as printed
        ("x +* y", 4, "expected a number"),
        ("x + ", 5, "ends"),
        ("(x + y", 1, "never closed"),
        ("x + y)", 6, "no matching"),
        ("2x", 2, "2*x"),
        ("x^2", 2, "**"),
        ("foo(x) + 1", 1, "unknown function 'foo'"),
        ("sigmod(x)", 1, "did you mean 'sigmoid'"),
        ("softmax(x)", 1, "element-wise"),
        ("exp()", 5, "needs an argument"),
        ("exp(x, y)", 1, "exactly one argument"),
        ("max(x)", 1, "two or more"),
        ("leaky_relu(x, 0.1)", 1, "by name"),
        ("leaky_relu(x, alpha=y)", 21, "takes a number"),
        ("leaky_relu(x, gamma=1)", 15, "unknown parameter"),
        ("leaky_relu(x, alpha=3)", 15, "out of range"),
        ("leaky_relu(x, alpha=0.1, alpha=0.2)", 26, "twice"),
        ("sin(x, alpha=1)", 8, "no parameters"),
        ("x = 1", 3, "'='"),
        ("1e400 * x", 1, "too large"),
        ("x, y", 2, "outside a function call"),
        ("", 1, "empty"),
    ],
)
def test_syntax_errors_point_at_the_column(expression, column, words):
    with pytest.raises(ExprError) as caught:
        parse(expression)
    assert caught.value.column + 1 == column
    assert words in str(caught.value)
    assert f"(column {column})" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_caret_line_sits_under_the_column():
    with pytest.raises(ExprError) as caught:
        parse("1 + foo(2)")
    text, caret = caught.value.caret_lines()
    assert text == "1 + foo(2)"
    assert caret == "    ^~~"


def test_caret_display_stays_on_one_line():
    with pytest.raises(ExprError) as caught:
        parse("x +\n\ty $")
    text, caret = caught.value.caret_lines()
    assert text == "x +  y $" and caret.index("^") == 7


def test_caret_window_for_a_long_expression():
    source = "x+" * 500 + "$" + "+x" * 500
    with pytest.raises(ExprError) as caught:
        parse(source)
    text, caret = caught.value.caret_lines(width=60)
    assert len(text) <= 62 and text[caret.index("^")] == "$"


def test_expr_error_is_an_input_error():
    assert issubclass(ExprError, InputError)


HOSTILE = [
    "__import__('os').system('touch {marker}')",
    "__import__(\"os\").system(\"touch {marker}\")",
    "open('{marker}', 'w')",
    "x.__class__.__bases__[0].__subclasses__()",
    "().__class__",
    "[c for c in ()]",
    "lambda: __import__('os').system('touch {marker}')",
    "eval('1')",
    "exec('import os')",
    "globals()",
    "x if x else y",
    "x; import os",
    "x # comment",
    "`ls`",
    "$(touch {marker})",
    "x @ y",
    "x % 2",
    "x < y",
    "not x",
    "b'bytes'",
    "{{1: 2}}",
    "sigmoid.__globals__",
    "1_000",
    "x\\\ny",
    "\u0661 + 1",  # an Arabic-Indic digit: only ASCII digits are numbers
]


@pytest.mark.parametrize("template", HOSTILE)
def test_hostile_expressions_are_rejected_and_run_nothing(template, tmp_path):
    marker = tmp_path / "pwned"
    with pytest.raises(InputError):
        backprop(build(template.format(marker=marker)), {"x": 1.0, "y": 2.0})
    assert not marker.exists()


def test_huge_exponent_is_an_overflow_error_not_a_hang():
    with pytest.raises(ExprError, match=r"\*\* overflows") as caught:
        value_of("10**10**10")
    assert caught.value.column == 2  # the outer **, evaluated last


def test_tokens_carry_their_columns():
    assert [(t.kind, t.text, t.start) for t in tokenize("ab **2")] == [
        ("name", "ab", 0), ("op", "**", 3), ("num", "2", 5), ("end", "", 6)
    ]


@pytest.mark.parametrize(
    "expression",
    [
        "(" * 10000 + "x" + ")" * 10000,
        "sin(" * 10000 + "x" + ")" * 10000,
        "-(" * 10000 + "x" + ")" * 10000,
        "x" + "**1" * 10000,
        "x" + "+1" * 10000,
    ],
    ids=["parentheses", "calls", "signs", "powers", "sums"],
)
def test_ten_thousand_nested_operations_parse_without_recursion(expression):
    tree = parse(expression)
    assert tree.end - tree.start == len(expression)


def test_deep_unbalanced_input_is_a_syntax_error():
    with pytest.raises(ExprError, match="never closed"):
        parse("(" * 100000 + "x")
    assert math.isfinite(value_of("(" * 5000 + "x" + ")" * 5000, x=2.0))
