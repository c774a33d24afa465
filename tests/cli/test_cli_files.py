"""Files the tool writes are never damaged: links, devices, pipes, permissions, stdout, bad and full paths."""

from __future__ import annotations

import os
import re
import stat
import threading
import xml.etree.ElementTree as ET

import pytest

from conftest import ROOT, run_cli

PLOT = ("activations", "plot", "relu", "--width", "20", "--height", "5")


def is_svg(text: str) -> bool:
    return ET.fromstring(text).tag.endswith("svg")


def test_new_file_is_written_with_the_umask_and_no_temporary_left(tmp_path):
    path = tmp_path / "a.svg"
    assert run_cli(*PLOT, "--svg", str(path)).returncode == 0
    assert is_svg(path.read_text())
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
    assert os.listdir(tmp_path) == ["a.svg"]


def test_existing_file_keeps_its_permissions(tmp_path):
    path = tmp_path / "private.svg"
    path.write_text("old")
    path.chmod(0o600)
    assert run_cli(*PLOT, "--svg", str(path)).returncode == 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and is_svg(path.read_text())


def test_symlink_writes_its_target_and_stays_a_link(tmp_path):
    target = tmp_path / "real.svg"
    target.write_text("old")
    link = tmp_path / "link.svg"
    link.symlink_to(target)
    assert run_cli(*PLOT, "--svg", str(link)).returncode == 0
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert is_svg(target.read_text())
    dangling = tmp_path / "dangling.svg"
    dangling.symlink_to(tmp_path / "new.svg")
    assert run_cli(*PLOT, "--svg", str(dangling)).returncode == 0
    assert dangling.is_symlink() and is_svg((tmp_path / "new.svg").read_text())


def test_dev_stdout_is_written_directly_not_replaced():
    out = run_cli("activations", "plot", "relu", "--svg", "/dev/stdout", "--width", "20", "--height", "5")
    assert out.returncode == 0 and b"<svg" in out.stdout
    assert os.path.islink("/dev/stdout") or stat.S_ISCHR(os.stat("/dev/stdout").st_mode)


def test_named_pipe_is_written_not_replaced(tmp_path):
    fifo = tmp_path / "pipe.svg"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    out = run_cli(*PLOT, "--svg", str(fifo))
    reader.join(timeout=30)
    assert out.returncode == 0 and stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert is_svg(received[0].decode())


def test_dash_is_stdout():
    out = run_cli(*PLOT, "--svg", "-")
    assert out.returncode == 0 and is_svg(out.stdout.decode()) and b"saved" not in out.stderr


@pytest.mark.parametrize(("where", "message"), [("", "name is empty"), (".", "Is a directory"),
                                                ("missing/x.svg", "No such file or directory")])
def test_bad_paths_are_exit_2_with_one_line(tmp_path, where, message):
    out = run_cli(*PLOT, "--svg", where if where in ("", ".") else str(tmp_path / where))
    err = out.stderr.decode()
    assert out.returncode == 2 and message in err and err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full here")
def test_full_disk_is_exit_1_naming_the_file():
    out = run_cli(*PLOT, "--svg", "/dev/full")
    err = out.stderr.decode()
    assert out.returncode == 1 and "cannot write /dev/full: No space left on device" in err
    assert err.count("\n") == 1


def test_failed_write_leaves_the_old_file_whole(tmp_path):
    """A write that dies half-way (here: a read-only directory) never truncates the file that was there."""
    path = tmp_path / "keep.svg"
    path.write_text("old contents")
    tmp_path.chmod(0o500)
    try:
        if os.access(tmp_path, os.W_OK):
            pytest.skip("running as a user who can write anywhere (root)")
        out = run_cli(*PLOT, "--svg", str(path))
        assert out.returncode == 2 and b"cannot write" in out.stderr
    finally:
        tmp_path.chmod(0o700)
    assert path.read_text() == "old contents"


def test_every_file_write_goes_through_the_one_helper():
    """No CLI module opens a file for writing or renames one itself: render.write_file does that."""
    for path in (ROOT / "dlcli" / "cli").glob("*.py"):
        if path.name == "render.py":
            continue
        text = path.read_text()
        for pattern in ("write_text(", "write_bytes(", "os.replace", "os.rename", "mkstemp"):
            assert pattern not in text, (path.name, pattern)
        assert not re.search(r"(?<![\w.])open\([^)]*['\"][wax]", text), path.name


