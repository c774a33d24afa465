"""Numbers in and out as text, fast: parsing whitespace-separated numbers and printing shortest round-trip decimals.

Parsing and printing dominate a pipeline like `dlcli activations eval sigmoid < numbers`, not the math, so both
go through orjson's C/Rust number code (Ryu-style shortest printing) instead of a Python loop over float/repr.
Input that is not one plain number per line falls back to a per-token parse that can name the bad line.
"""

from __future__ import annotations

import math
import re

import numpy as np
import orjson

from dlcli.errors import InputError

_NUMBER_BYTES = b"0123456789eE+-.\n"


def parse_numbers(data: bytes, first_line: int = 1) -> np.ndarray:
    """Every whitespace-separated number in `data` as float64; InputError naming the line of a bad token."""
    body = data.strip()
    if not body:
        return np.empty(0, dtype=np.float64)
    if not body.translate(None, _NUMBER_BYTES) and b"\n\n" not in body:
        try:
            values = orjson.loads(b"[" + body.replace(b"\n", b",") + b"]")
            return np.array(values, dtype=np.float64)
        except (orjson.JSONDecodeError, OverflowError, TypeError, ValueError):
            pass  # e.g. "+1", ".5", "01", a huge integer: the careful path below accepts or names them
    return _parse_tokens(data, first_line)


def _parse_tokens(data: bytes, first_line: int) -> np.ndarray:
    out: list[float] = []
    for offset, line in enumerate(data.split(b"\n")):
        for token in line.split():
            out.append(parse_number(token, where=f"line {first_line + offset}"))
    return np.array(out, dtype=np.float64)


def parse_number(token: bytes | str, where: str = "") -> float:
    """One number, accepting what Python's float() does (inf and nan included, digit underscores excluded)."""
    text = token.decode("utf-8", "replace") if isinstance(token, bytes) else token
    try:
        if "_" in text:
            raise ValueError
        return float(text)
    except ValueError:
        prefix = f"{where}: " if where else ""
        shown = text if len(text) <= 40 else text[:37] + "..."
        raise InputError(f"{prefix}'{shown}' is not a number") from None


def format_float(value: float) -> str:
    """The shortest round-trip decimal of one float in the house style ('inf', '-inf', 'nan' for the rest):
    fixed notation for 1e-5 ≤ |x| < 1e16 ('0.000015', '100.0'), else an exponent without padding ('1e+308',
    '1e-7'). Every format (plain, CSV, JSON) prints this, whatever orjson version is installed."""
    value = float(value)
    text = repr(value)
    if not math.isfinite(value) or "e" not in text:
        return text
    mantissa, _, power = text.partition("e")
    exponent = int(power)
    if exponent == -5:  # repr switches to an exponent one decade earlier than the house style
        sign, digits = ("-", mantissa[1:]) if mantissa.startswith("-") else ("", mantissa)
        return f"{sign}0.0000{digits.replace('.', '')}"
    return f"{mantissa}e{'+' if exponent > 0 else '-'}{abs(exponent)}"


_PROBE = [1e308, 1e-7, 1.5e-5, 1e-5, -2.5e-5, 1e-6, 1e-4, 1e15, 1e16, 0.1, 100.0, 5e-324, 1.2345678901234568e17, -0.0]
# orjson prints the house style itself (3.13 does); older releases write '1e308', '1.5e-5': then its output is
# rewritten token by token (slower, the same text).
ORJSON_IS_HOUSE_STYLE = orjson.dumps(_PROBE).decode() == "[" + ",".join(format_float(v) for v in _PROBE) + "]"
_FLOAT_TOKEN = re.compile(rb"-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")


def house_style(data: bytes) -> bytes:
    """orjson's number text (no strings in it) in the house style of format_float."""
    if ORJSON_IS_HOUSE_STYLE:
        return data
    return _FLOAT_TOKEN.sub(lambda m: format_float(float(m.group())).encode(), data)


def format_column(values: np.ndarray) -> bytes:
    """One number per line, each the shortest decimal that reads back as the same float64."""
    if values.size == 0:
        return b""
    values = np.ascontiguousarray(values, dtype=np.float64)
    if np.isfinite(values).all():
        text = orjson.dumps(values, option=orjson.OPT_SERIALIZE_NUMPY)[1:-1].replace(b",", b"\n") + b"\n"
        return house_style(text)
    return ("\n".join(format_float(v) for v in values.tolist()) + "\n").encode()


def format_rows(columns: list[np.ndarray]) -> bytes:
    """Comma-separated rows, one per index of the equally long `columns` (the body of a CSV file)."""
    if not columns or columns[0].size == 0:
        return b""
    return format_table(np.column_stack(columns))


def format_table(table: np.ndarray) -> bytes:
    """Comma-separated rows of a 2-D float64 array."""
    table = np.ascontiguousarray(table, dtype=np.float64)
    if table.size == 0:
        return b""
    if np.isfinite(table).all():
        text = orjson.dumps(table, option=orjson.OPT_SERIALIZE_NUMPY)[2:-2]
        return house_style(text.replace(b"],[", b"\n") + b"\n")
    return ("\n".join(",".join(format_float(v) for v in row) for row in table.tolist()) + "\n").encode()
