"""Ctrl-C: a real process, a real SIGINT to its process group (as a terminal sends): exit 130, 'interrupted'."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from conftest import ROOT

ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def start(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "dlcli", *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=ENV, cwd=ROOT, start_new_session=True, **kwargs)


def test_ctrl_c_while_streaming_exits_130_saying_interrupted():
    proc = start("activations", "eval", "sigmoid")
    proc.stdin.write(b"0\n1\n")
    proc.stdin.flush()
    first = proc.stdout.readline()  # it is running and has answered
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130 and err == b"dlcli: error: interrupted\n"
    assert first == b"0.5\n" and all(line for line in out.split(b"\n")[:-1])  # only whole lines were written


def test_ctrl_c_during_a_long_run_exits_130_and_writes_no_data(tmp_path):
    proc = start("vanish", "--depth", "200000", "--width", "8", "--format", "json")
    time.sleep(1.5)
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and err.decode().splitlines()[-1] == "dlcli: error: interrupted"
    assert out == b"" and "Traceback" not in err.decode()
