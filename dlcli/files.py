"""Writing a file without damaging it: a symlink stays a link, a device or pipe is written in place, a regular
file is replaced atomically and keeps its permissions. Every file dlcli writes goes through `write_text`."""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile

from dlcli.errors import InputError, RunError

RUN_ERRNOS = {"ENOSPC", "EDQUOT", "EIO", "EFBIG", "EPIPE", "ENOMEM"}  # the path was fine; the write failed


def write_text(path: str, text: str, what: str = "file") -> None:
    """Write `text` to `path` by the rules above; a bad path is an InputError, a failed write a RunError."""
    if not path:
        raise InputError(f"the {what} name is empty (give a path, or '-' for stdout)")
    try:
        info: os.stat_result | None = os.stat(path)
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise write_error(path, exc) from None
    if info is not None and stat.S_ISDIR(info.st_mode):
        raise write_error(path, OSError(errno.EISDIR, os.strerror(errno.EISDIR)))
    if info is not None and not stat.S_ISREG(info.st_mode):  # /dev/stdout, a terminal, a FIFO: write in place
        try:
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(text)
        except OSError as exc:
            raise write_error(path, exc) from None
        return
    target = os.path.realpath(path)  # a symlink (even a dangling one) writes where it points
    if info is not None:
        mode = stat.S_IMODE(info.st_mode)
    else:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(target) or ".", prefix=f".{os.path.basename(target)}.",
                                   suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
        tmp = None
    except OSError as exc:
        raise write_error(path, exc) from None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def write_error(name: str, exc: OSError) -> InputError | RunError:
    """'cannot write NAME: why' as a RunError when the write itself failed, else an InputError (a bad path)."""
    why = exc.strerror or str(exc)
    kind = RunError if errno.errorcode.get(exc.errno or 0, "") in RUN_ERRNOS else InputError
    return kind(f"cannot write {name}: {why}")
