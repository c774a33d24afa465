"""Boolean specs against the truth tables written out by hand from the definitions."""

import pytest

from dlcli.errors import InputError
from dlcli.perceptron.boolean import MAX_INPUTS, describe, input_rows, parse_spec

HAND_TABLES = {  # rows 00, 01, 10, 11 (first input most significant)
    "and": "0001", "or": "0111", "xor": "0110", "nand": "1110", "nor": "1000", "xnor": "1001",
    "implies": "1101", "true": "1111", "false": "0000",
}


@pytest.mark.parametrize("name,table", HAND_TABLES.items())
def test_two_input_names(name, table):
    fn = parse_spec(name)
    assert (fn.inputs, fn.table, fn.name) == (2, table, name)


def test_unary_and_n_ary_names():
    assert parse_spec("not").table == "10"
    # rows 000..111 with one-counts 0,1,1,2,1,2,2,3
    assert parse_spec("majority", 3).table == "00010111"
    assert parse_spec("parity", 3).table == "01101001"
    assert parse_spec("xor", 3).table == "01101001"
    assert parse_spec("and", 3).table == "00000001"
    assert parse_spec("nor", 3).table == "10000000"
    assert parse_spec("majority", 4).table == "0000000100010111"  # strictly more than half: 3 or 4 ones


def test_rows_spell_their_index_first_input_most_significant():
    rows = input_rows(3)
    assert rows.tolist()[6] == [1, 1, 0]
    assert [int("".join(map(str, r)), 2) for r in rows] == list(range(8))


def test_table_spec_sets_the_arity():
    fn = parse_spec("01101001")
    assert (fn.inputs, fn.table, fn.name) == (3, "01101001", "01101001")
    assert parse_spec(" 0110 ").table == "0110"


@pytest.mark.parametrize("spec,inputs,message", [
    ("011", None, "power of two"),
    ("0", None, "power of two"),
    ("0120", None, "only the characters 0 and 1"),
    ("xro", None, "did you mean 'xor'"),
    ("0" * 2 ** (MAX_INPUTS + 1), None, "too large"),
    ("0110", 3, "has 2 inputs"),
    ("implies", 3, "exactly 2 inputs"),
    ("not", 2, "exactly 1 input"),
    ("and", 0, "between 1 and"),
    ("and", MAX_INPUTS + 1, "between 1 and"),
])
def test_bad_specs_are_input_errors(spec, inputs, message):
    with pytest.raises(InputError, match=message):
        parse_spec(spec, inputs)


def test_describe_names_all_sixteen_two_input_functions():
    expected = {
        "0000": "false", "0001": "and", "0010": "x1 and not x2", "0011": "x1", "0100": "not x1 and x2",
        "0101": "x2", "0110": "xor", "0111": "or", "1000": "nor", "1001": "xnor", "1010": "not x2",
        "1011": "x1 or not x2", "1100": "not x1", "1101": "implies", "1110": "nand", "1111": "true",
    }
    assert {t: describe(t) for t in expected} == expected
    assert describe("10") == "not x1"
    assert describe("00010111") == "majority"
    assert describe("00001111") == "x1"
    assert describe("01101000") == "01101000"
