"""Streaming numbers from stdin to stdout: constant memory, output flowing while input still arrives.

Reads whatever the pipe holds (so `tail -f | dlcli ...` answers line by line), parses only complete
tokens, and carries a partial token over to the next read. Errors name the input line.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator

import numpy as np

from dlcli.numio import parse_numbers

CHUNK = 1 << 20
_WHITESPACE = b" \t\r\n\v\f"


def read_chunks(fd: int | None = None) -> Iterator[tuple[np.ndarray, int]]:
    """Yield (numbers, first line number) for each run of complete tokens read from `fd` (stdin)."""
    fd = sys.stdin.fileno() if fd is None else fd
    carry = b""
    line = 1
    while True:
        data = os.read(fd, CHUNK)
        if not data:
            break
        data = carry + data
        cut = max(data.rfind(bytes([c])) for c in _WHITESPACE)
        if cut < 0:
            carry = data
            continue
        ready, carry = data[: cut + 1], data[cut + 1 :]
        values = parse_numbers(ready, line)
        line += ready.count(b"\n")
        if values.size:
            yield values, line
    if carry.strip():
        yield parse_numbers(carry, line), line


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def stream(transform: Callable[[np.ndarray], bytes], header: bytes = b"") -> int:
    """Apply `transform` to every chunk of numbers on stdin, writing its bytes to stdout; return the count."""
    sys.stdout.flush()
    out = sys.stdout.fileno()
    if header:
        write_all(out, header)
    count = 0
    for values, _ in read_chunks():
        write_all(out, transform(values))
        count += values.size
    return count
