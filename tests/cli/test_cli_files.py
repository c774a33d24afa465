"""Files the tool writes are never damaged: links, devices, pipes, permissions, stdout, bad and full paths."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
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
    """A write refused (here: a read-only file in a read-only directory) never truncates the file that was there."""
    path = tmp_path / "keep.svg"
    path.write_text("old contents")
    path.chmod(0o444)
    tmp_path.chmod(0o500)
    try:
        out = run_cli(*PLOT, "--svg", str(path))
        assert out.returncode == 2 and b"cannot write" in out.stderr
    finally:
        tmp_path.chmod(0o700)
    assert path.read_text() == "old contents"


@pytest.mark.parametrize("through_link", [False, True])
def test_a_read_only_file_is_refused_as_the_shell_refuses_it(tmp_path, through_link):
    """Mode 444: no one may write it (root included, who the OS would let): one line, exit 2, the file as it was."""
    path = tmp_path / "ro.svg"
    path.write_text("old contents")
    path.chmod(0o444)
    name = path
    if through_link:
        name = tmp_path / "link.svg"
        name.symlink_to(path)
    out = run_cli(*PLOT, "--svg", str(name))
    err = out.stderr.decode()
    assert out.returncode == 2 and err.count("\n") == 1, err
    assert f"cannot write {name}: Permission denied" in err and "read-only" in err
    assert path.read_text() == "old contents" and stat.S_IMODE(path.stat().st_mode) == 0o444
    assert sorted(os.listdir(tmp_path)) == sorted({"ro.svg", name.name})


def test_a_writable_file_in_a_read_only_folder_is_written_in_place(tmp_path):
    path = tmp_path / "in_place.svg"
    path.write_text("old contents")
    inode = path.stat().st_ino
    tmp_path.chmod(0o500)
    try:
        if os.access(tmp_path, os.W_OK):
            pytest.skip("running as a user who can write anywhere (root): see the test below")
        out = run_cli(*PLOT, "--svg", str(path))
        assert out.returncode == 0, out.stderr
    finally:
        tmp_path.chmod(0o700)
    assert is_svg(path.read_text()) and path.stat().st_ino == inode


def test_a_folder_that_takes_no_new_file_gets_the_file_written_in_place(tmp_path, monkeypatch):
    """Where no temporary file can be made beside it (a read-only folder as any user; root in a 0o500 folder
    is let in by the OS, so the refusal is made here), the writable file is written in place, same inode."""
    import errno
    import tempfile

    from dlcli import files

    def refuse(*_args, **_kwargs):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))

    path = tmp_path / "in_place.svg"
    path.write_text("old contents")
    inode = path.stat().st_ino
    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    files.write_text(str(path), "<svg/>")
    assert path.read_text() == "<svg/>" and path.stat().st_ino == inode
    with pytest.raises(files.InputError, match="Permission denied"):  # a new file there: the folder's refusal
        files.write_text(str(tmp_path / "new.svg"), "<svg/>")


@pytest.mark.skipif(not os.path.exists("/proc/version"), reason="no /proc here")
def test_a_proc_file_gets_the_right_reason():
    out = run_cli(*PLOT, "--svg", "/proc/version")
    err = out.stderr.decode()
    assert out.returncode == 2 and "No such file" not in err and "read-only" in err and err.count("\n") == 1
    out = run_cli(*PLOT, "--svg", "/proc/dlcli-new.svg")
    err = out.stderr.decode()
    assert out.returncode == 2 and "No such file" not in err and "/proc takes no new file" in err


def run_in(folder, *args):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "dlcli", *args], capture_output=True, env=env, cwd=folder,
                          timeout=120)


@pytest.mark.parametrize("command", [
    ("activations", "plot", "relu", "--width", "20", "--height", "5"),
    ("vanish", "--phase", "--act", "tanh"),
    ("train", "--depth", "1", "--width", "8", "--epochs", "1", "--seed", "0"),
])
def test_dash_is_stdout_for_every_output_option(tmp_path, command):
    """`--svg -`: the SVG alone on stdout (no file named '-', nothing else there); beside --format: refused."""
    pytest.importorskip("torch") if command[0] == "train" else None
    out = run_in(tmp_path, *command, "--svg", "-")
    assert out.returncode == 0, out.stderr
    assert is_svg(out.stdout.decode()) and not (tmp_path / "-").exists() and b"saved" not in out.stderr
    if command[0] != "activations":  # plot has no --format: it draws
        refused = run_in(tmp_path, *command, "--svg", "-", "--format", "json")
        err = refused.stderr.decode()
        assert refused.returncode == 2 and "--svg - writes on stdout" in err and err.count("\n") == 1


def test_every_file_write_goes_through_the_one_helper():
    """No CLI module opens a file for writing or renames one itself: render.write_file does that."""
    for path in (ROOT / "dlcli" / "cli").glob("*.py"):
        if path.name == "render.py":
            continue
        text = path.read_text()
        for pattern in ("write_text(", "write_bytes(", "os.replace", "os.rename", "mkstemp"):
            assert pattern not in text, (path.name, pattern)
        assert not re.search(r"(?<![\w.])open\([^)]*['\"][wax]", text), path.name


