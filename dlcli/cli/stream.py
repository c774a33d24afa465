"""Streaming numbers from stdin to stdout: constant memory, output flowing while input still arrives.

Reads whatever the pipe holds (so `tail -f | dlcli ...` answers line by line), parses only complete
tokens, and carries a partial token over to the next read. Errors name the input line.

Parsing and printing cost about the same, so on a machine with two or more cores the work is split
over two processes: this one reads, parses and computes; a forked child prints. Float64 arrays pass
between them through a pipe as raw bytes, in order.
"""

from __future__ import annotations

import io
import os
import signal
import struct
import sys
from collections.abc import Callable, Iterator

import numpy as np

from dlcli.errors import RunError
from dlcli.numio import parse_numbers

CHUNK = 1 << 20
_WHITESPACE = b" \t\r\n\v\f"
ERRNO_BASE = 64  # the printer exits with ERRNO_BASE + errno when a write fails
_HEADER = struct.Struct("<QQ")  # rows, columns of the float64 block that follows


def _fileno(stream) -> int | None:
    try:
        return stream.fileno()
    except (AttributeError, ValueError, io.UnsupportedOperation):
        return None  # an in-memory stream (tests)


def _reader(stream) -> Callable[[], bytes]:
    fd = _fileno(stream)
    if fd is not None:
        return lambda: os.read(fd, CHUNK)  # returns what the pipe holds now: output keeps flowing
    buffer = getattr(stream, "buffer", stream)
    return lambda: buffer.read(CHUNK)


def read_chunks(stream=None) -> Iterator[np.ndarray]:
    """Yield the numbers of each run of complete tokens read from `stream` (stdin)."""
    read = _reader(sys.stdin if stream is None else stream)
    carry = b""
    line = 1
    while True:
        data = read()
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
            yield values
    if carry.strip():
        yield parse_numbers(carry, line)


def _write_all(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _writer(stream) -> Callable[[bytes], None]:
    fd = _fileno(stream)
    if fd is not None:
        return lambda data: _write_all(fd, data)
    buffer = getattr(stream, "buffer", stream)

    def write(data: bytes) -> None:
        buffer.write(data)
        buffer.flush()

    return write


def stream(compute: Callable[[np.ndarray], np.ndarray], render: Callable[[np.ndarray], bytes],
           header: bytes = b"") -> int:
    """For every chunk of numbers x on stdin write render(compute(x)) to stdout; return how many numbers.

    `compute` maps x to a float64 array of len(x) rows (a vector, or a table of columns); `render` turns
    such an array into output bytes.
    """
    sys.stdout.flush()
    write = _writer(sys.stdout)
    if header:
        write(header)
    in_fd, out_fd = _fileno(sys.stdin), _fileno(sys.stdout)
    if in_fd is None or out_fd is None or (os.cpu_count() or 1) < 2 or not hasattr(os, "fork"):
        count = 0
        for values in read_chunks():
            write(render(compute(values)))
            count += values.size
        return count
    return _stream_two_processes(compute, render, out_fd)


def _stream_two_processes(compute: Callable[[np.ndarray], np.ndarray], render: Callable[[np.ndarray], bytes],
                          out_fd: int) -> int:
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # the printer: Ctrl-C is the reader's to handle; this one prints what it was given and ends
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        os.close(write_end)
        status = 0
        try:
            _print_blocks(read_end, render, out_fd)
        except OSError as exc:  # tell the parent why (a full disk, a closed stdout) through the exit code
            status = ERRNO_BASE + exc.errno if exc.errno and exc.errno < 256 - ERRNO_BASE else 1
        except BaseException:  # a forked child must never unwind into the parent's code
            status = 1
        os._exit(status)
    os.close(read_end)
    count = 0
    try:
        for values in read_chunks():
            result = np.ascontiguousarray(compute(values), dtype=np.float64)
            rows, cols = result.shape[0], (result.shape[1] if result.ndim == 2 else 0)
            _write_all(write_end, _HEADER.pack(rows, cols))
            _write_all(write_end, result.data.cast("B"))
            count += values.size
    finally:
        os.close(write_end)  # end of data: the child prints what it has and exits
        _, status = os.waitpid(child, 0)
    code = os.waitstatus_to_exitcode(status)
    if code == -signal.SIGPIPE:  # the reader went away (`| head -1`): end as quietly as the printer did
        os.kill(os.getpid(), signal.SIGPIPE)
    if code > ERRNO_BASE:
        number = code - ERRNO_BASE
        raise RunError(f"cannot write stdout: {os.strerror(number)}")
    if code != 0:
        raise RunError("the output process failed (an internal error; please report it)")
    return count


def _print_blocks(fd: int, render: Callable[[np.ndarray], bytes], out_fd: int) -> None:
    while True:
        head = _read_exactly(fd, _HEADER.size)
        if head is None:
            return
        rows, cols = _HEADER.unpack(head)
        body = _read_exactly(fd, rows * max(cols, 1) * 8) or b""
        block = np.frombuffer(body, dtype=np.float64)
        _write_all(out_fd, render(block.reshape(rows, cols) if cols else block))


def _read_exactly(fd: int, size: int) -> bytes | None:
    parts, remaining = [], size
    while remaining:
        part = os.read(fd, min(remaining, 1 << 22))
        if not part:
            return None
        parts.append(part)
        remaining -= len(part)
    return b"".join(parts)
