"""Number parsing and printing, against Python's own float() and repr() as references."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dlcli import numio
from dlcli.errors import InputError


@settings(max_examples=300)
@given(st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=1, max_size=50))
def test_format_column_round_trips_with_the_fewest_digits(values):
    text = numio.format_column(np.array(values)).decode()
    lines = text.splitlines()
    assert [float(s) for s in lines] == values
    for line, value in zip(lines, values, strict=True):
        # the same significant digits as Python's repr, which is the shortest round-trip decimal
        assert _digits(line) == _digits(repr(value))


def _digits(text: str) -> str:
    mantissa = text.lower().split("e")[0].lstrip("-").replace(".", "")
    return mantissa.strip("0") or "0"


def test_format_handles_non_finite_and_negative_zero():
    out = numio.format_column(np.array([np.inf, -np.inf, np.nan, -0.0, 5e-324])).decode().split()
    assert out == ["inf", "-inf", "nan", "-0.0", "5e-324"]


def test_format_rows_is_csv_body():
    out = numio.format_rows([np.array([1.0, -2.5]), np.array([0.1, 3.0])]).decode()
    assert out == "1.0,0.1\n-2.5,3.0\n"


@settings(max_examples=200)
@given(st.lists(st.floats(allow_nan=False), min_size=1, max_size=40),
       st.sampled_from([" ", "\n", "\t", "\r\n", "  \n"]))
def test_parse_numbers_equals_python_float(values, sep):
    text = sep.join(repr(v) for v in values).encode()
    assert numio.parse_numbers(text).tolist() == [float(repr(v)) for v in values]


@pytest.mark.parametrize("token", ["+1", ".5", "5.", "1e400", "-1e-400", "inf", "-Infinity", "nan", "01", "1E5", "-0"])
def test_parse_accepts_what_float_accepts(token):
    got = numio.parse_numbers(f"1\n{token}\n2\n".encode())
    expected = float(token)
    assert got[0] == 1 and got[2] == 2
    assert (np.isnan(got[1]) and np.isnan(expected)) or got[1] == expected


@pytest.mark.parametrize(("text", "line"), [(b"1\n2\nx\n", 3), (b"1 2 3\n\n4 true\n", 3), (b"1_000\n", 1),
                                             (b"null\n", 1), (b"[1]\n", 1), (b"1,2\n", 1)])
def test_malformed_numbers_name_their_line(text, line):
    with pytest.raises(InputError, match=f"line {line}: "):
        numio.parse_numbers(text)


def test_line_numbers_count_from_first_line():
    with pytest.raises(InputError, match="line 12: 'abc'"):
        numio.parse_numbers(b"1\nabc\n", first_line=11)


def test_empty_input():
    assert numio.parse_numbers(b"  \n\n").size == 0


HOUSE_STYLE = [(1e308, "1e+308"), (1e-7, "1e-7"), (1.5e-5, "0.000015"), (1e-5, "0.00001"), (-2.5e-5, "-0.000025"),
               (1e-6, "1e-6"), (1e-4, "0.0001"), (1e15, "1000000000000000.0"), (1e16, "1e+16"), (0.1, "0.1"),
               (100.0, "100.0"), (5e-324, "5e-324"), (-0.0, "-0.0"), (float("inf"), "inf"), (float("nan"), "nan")]


@pytest.mark.parametrize(("value", "text"), HOUSE_STYLE)
def test_one_number_style(value, text):
    assert numio.format_float(value) == text


@settings(max_examples=300)
@given(st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=1, max_size=30))
def test_columns_tables_and_single_numbers_agree_digit_for_digit(values):
    array = np.array(values)
    single = [numio.format_float(v) for v in values]
    assert numio.format_column(array).decode().splitlines() == single
    assert numio.format_table(np.column_stack([array, array])).decode().splitlines() == [f"{s},{s}" for s in single]


def test_an_orjson_with_another_style_is_rewritten_to_the_house_style(monkeypatch):
    """Older orjson releases print 1e308 and 1.5e-5: the output is rewritten, not passed on."""
    monkeypatch.setattr(numio, "ORJSON_IS_HOUSE_STYLE", False)
    assert numio.house_style(b"1e308\n1.5e-5\n1e16\n-2.5E-5,0.1\n1e-07\n") == \
        b"1e+308\n0.000015\n1e+16\n-0.000025,0.1\n1e-7\n"


def test_plain_csv_and_json_print_the_same_numbers():
    import json

    from conftest import run_cli

    args = ("activations", "eval", "identity", "1e308", "1e-7", "1.5e-5", "-1e16")
    plain = run_cli(*args, "-f", "plain").stdout.decode().split()
    csv_rows = run_cli(*args, "-f", "csv").stdout.decode().splitlines()[1:]
    text = run_cli(*args, "-f", "json").stdout.decode()
    assert plain == ["1e+308", "1e-7", "0.000015", "-1e+16"] == [row.split(",")[1] for row in csv_rows]
    assert '"value":[1e+308,1e-7,0.000015,-1e+16]' in text and json.loads(text)["value"][0] == 1e308


def test_json_follows_the_house_style_with_any_orjson(monkeypatch):
    from dlcli.cli import render

    monkeypatch.setattr(render, "ORJSON_IS_HOUSE_STYLE", False)
    assert render.json_text({"x": [1.5e-5, 1e308, float("nan")], "n": 2**64, "s": "1e308"}) == \
        '{"x":[0.000015,1e+308,null],"n":18446744073709551616,"s":"1e308"}'
