"""80-column terminals: no number is ever cut with '…', tables drop or stack columns and say so, prose wraps."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import ROOT
from readme_examples import README, blocks

CUT = re.compile(r"\d…|…\d|[A-Za-z]…")  # a number (or a word) cut short by an ellipsis
QUICK_START = "dlcli vanish --depth 20 --act sigmoid --seed 1"
COMMANDS = [QUICK_START, *(command for command, _ in blocks(README.read_text()))]


def run_narrow(command: str, columns: int = 80) -> str:
    """A README shell line with its `dlcli` run as this checkout on a (forced) terminal of `columns`."""
    line = re.sub(r"(^|\| *|; *)dlcli\b", lambda m: f"{m.group(1)}{sys.executable} -m dlcli", command)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": str(columns), "DLCLI_TERMINAL": "1", "NO_COLOR": "1"}
    out = subprocess.run(["bash", "-c", line], capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    return out.stdout + out.stderr


@pytest.fixture(scope="module")
def narrow_outputs() -> dict[str, str]:
    with ThreadPoolExecutor(max_workers=3) as pool:
        return dict(zip(COMMANDS, pool.map(run_narrow, COMMANDS), strict=True))


def test_no_readme_example_cuts_a_number_at_80_columns(narrow_outputs):
    for command, output in narrow_outputs.items():
        cut = [line for line in output.splitlines() if CUT.search(line)]
        assert not cut, (command, cut)
        long = [line for line in output.splitlines() if len(line.rstrip()) > 80 and "--format table" in command]
        assert not long, (command, long)


def test_quick_start_keeps_every_exponent_and_says_what_it_left_out(narrow_outputs):
    out = narrow_outputs[QUICK_START]
    for number in ("3.511e-14", "1.75e-17", "1.25e-16", "1.803e-17"):
        assert number in out
    assert "without: width" in out and "--format plain has every column" in out


def test_dropped_and_stacked_tables_at_80_columns(narrow_outputs):
    many = run_narrow("dlcli activations eval softmax " + " ".join(map(str, range(1, 20))))
    assert "softmax(x)" in many and "one block per row" in many and not CUT.search(many)
    listed = narrow_outputs["dlcli activations list --format table | head -12"]
    assert "theta=0" in listed
    compare = narrow_outputs["dlcli vanish --act sigmoid,tanh,relu --seed 1 --format table"]
    assert "without: critical gain" in compare and "1.66e-07" in compare


def test_explanations_wrap_as_paragraphs_with_a_hanging_indent(narrow_outputs):
    lines = narrow_outputs[QUICK_START].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("  theory:"))
    assert lines[start + 1].startswith("    ") and not lines[start + 1].startswith("     ")
    text = "\n".join(lines)
    assert "depth scale 0.2556 layers" in text  # a phrase is never split across lines
    assert re.search(r"predicted ratio \S+", text)


def test_wrap_paragraph_breaks_between_phrases():
    from dlcli.cli.render import wrap_paragraph

    text = "theory: q* = 0.086361, χ1 = 0.019996, per-layer factor √χ1 = 0.14141, predicted ratio 7.226e-17"
    lines = wrap_paragraph(text, 40, indent=2, hang=4)
    assert all(len(line) <= 40 for line in lines)
    assert lines[0].startswith("  theory:") and all(line.startswith("    ") for line in lines[1:])
    assert " ".join(line.strip() for line in lines) == text
    assert not any(line.rstrip().endswith("=") or line.strip().startswith("=") for line in lines)
