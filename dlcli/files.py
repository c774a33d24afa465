"""Writing a file without damaging it: a symlink stays a link, a device or pipe is written in place, a regular
file is replaced atomically and keeps its permissions, a read-only file is refused (as the shell's `>` refuses
it), and a writable file in a folder that takes no new file is written in place. Every file dlcli writes goes
through `write_text`."""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile

from dlcli.errors import InputError, RunError

RUN_ERRNOS = {"ENOSPC", "EDQUOT", "EIO", "EFBIG", "EPIPE", "ENOMEM"}  # the path was fine; the write failed
NO_NEW_FILE = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOENT, errno.EINVAL, errno.EOPNOTSUPP}


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
        _write_in_place(path, text)
        return
    if info is not None and not writable(path, info):
        raise InputError(f"cannot write {path}: Permission denied (the file is read-only; make it writable, "
                         "or give another name)")
    target = os.path.realpath(path)  # a symlink (even a dangling one) writes where it points
    folder = os.path.dirname(target) or "."
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(target)}.", suffix=".tmp")
    except OSError as exc:
        if info is not None and exc.errno in NO_NEW_FILE:  # a read-only folder, /proc: the file itself takes it
            _write_in_place(path, text)
            return
        if exc.errno == errno.ENOENT and os.path.isdir(folder):
            raise InputError(f"cannot write {path}: {folder} takes no new file") from None
        raise write_error(path, exc) from None
    _replace(fd, tmp, target, text, stat.S_IMODE(info.st_mode) if info is not None else _new_file_mode(), path)


def writable(path: str, info: os.stat_result) -> bool:
    """Whether the existing file `path` may be written: some write permission bit set (root too is refused a
    file nobody may write, as a mode-444 file says), and this user allowed to write it."""
    return bool(info.st_mode & 0o222) and os.access(path, os.W_OK)


def _new_file_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _replace(fd: int, tmp: str, target: str, text: str, mode: int, name: str) -> None:
    """Write the temporary file `tmp` (open as `fd`) whole, then rename it over `target` (or remove it)."""
    done = False
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
        done = True
    except OSError as exc:
        raise write_error(name, exc) from None
    finally:
        if not done:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def _write_in_place(path: str, text: str) -> None:
    try:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as exc:
        raise write_error(path, exc) from None


def write_error(name: str, exc: OSError) -> InputError | RunError:
    """'cannot write NAME: why' as a RunError when the write itself failed, else an InputError (a bad path)."""
    why = exc.strerror or str(exc)
    kind = RunError if errno.errorcode.get(exc.errno or 0, "") in RUN_ERRNOS else InputError
    return kind(f"cannot write {name}: {why}")
