"""Documented examples are real output: every ```console block's `$ dlcli ...` lines are run and compared.

    python tests/readme_examples.py          # rewrite the outputs in README.md and docs/*.md from the code
    pytest tests/test_readme.py              # fail when a documented output is stale

`difference` tells rounding apart from a real change (README, "Portability"): the text between numbers
must match (up to the padding a number's width moves), numbers agree within RTOL, and in AT_ROUNDOFF
commands, which print errors against a reference, error magnitudes agree in their order of magnitude.
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCUMENTS = [README, *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"```console\n(.*?)```", re.S)

# Another CPU (its BLAS kernels, its libm) rounds differently: a float64 result of many operations moves in
# its last few digits (seen: 4e-15 relative after 695 epochs of an MLP). 1e-11 leaves a margin of ~1000
# over that and still catches any change of a value a person would call real (1e-9 relative fails).
RTOL = 1e-11
# Errors measured against a reference are themselves rounding noise (2.2e-16 here, 2.9e-16 on an AVX-512
# machine, whose numpy has its own exp and log): their order of magnitude is the fact, not their digits. In
# these commands' outputs, two values both below ROUNDOFF_FLOOR count as equal, and two error magnitudes
# (below ERROR_SCALE) as equal within a factor ERROR_FACTOR; 1e-10 against 1e-9, or 0 against 1e-10, fails.
ROUNDOFF_FLOOR = 1e-13
ERROR_SCALE = 1e-6
ERROR_FACTOR = 2.0
AT_ROUNDOFF = ("dlcli activations check",)

# A number token: decimal or scientific (1.25e-07, -0.1966, 3.511e+08, .5), inf/infinity/nan in any case.
# It never starts inside a word or straight after a digit or '.', so x1, relu6, h2, 2.13.0's ".0" stay text.
NUMBER = re.compile(
    r"(?<![\w.])[-+]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|(?:inf(?:inity)?|nan)(?![\w]))",
    re.IGNORECASE,
)
_BOX_RULE = re.compile(r"([─━═])\1+")  # a table rule's length follows its column's width
_SPACES = re.compile(r" +")


# A progress line (render.Progress, on stderr once a piped run has taken 10 s) depends on the machine's load.
PROGRESS_LINE = re.compile(r"^dlcli: .* \d+/\d+ \w+(?: \(\d+%\))?\n", re.M)


def run(command: str) -> str:
    """Run one README command line (a shell line whose `dlcli` means this checkout's CLI); stdout+stderr without
    progress lines."""
    shell_line = re.sub(r"(^|\| *|; *)dlcli\b", lambda m: f"{m.group(1)}{sys.executable} -m dlcli", command)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "120"}
    env.pop("NO_COLOR", None)
    out = subprocess.run(["bash", "-c", shell_line], capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    return out.stdout + PROGRESS_LINE.sub("", out.stderr)


def blocks(text: str) -> list[tuple[str, str]]:
    """(command, recorded output) for every `$ ` line of every console block."""
    found = []
    for block in BLOCK.findall(text):
        lines = block.splitlines()
        starts = [i for i, line in enumerate(lines) if line.startswith("$ ")]
        for n, i in enumerate(starts):
            end = starts[n + 1] if n + 1 < len(starts) else len(lines)
            found.append((lines[i][2:], "\n".join(lines[i + 1:end])))
    return found


def tokens(text: str) -> tuple[list[str], list[str]]:
    """The text between numbers (len n + 1) and the n number tokens, in order."""
    texts, numbers, last = [], [], 0
    for m in NUMBER.finditer(text):
        texts.append(text[last:m.start()])
        numbers.append(m.group())
        last = m.end()
    texts.append(text[last:])
    return texts, numbers


def _layout(text: str) -> str:
    """Text with the padding that a number's width moves: runs of spaces, table rules, spaces at line ends."""
    text = "\n".join(line.rstrip(" ") for line in text.split("\n"))
    return _SPACES.sub(" ", _BOX_RULE.sub(r"\1", text))


def numbers_agree(recorded: str, current: str, errors: bool = False) -> bool:
    """Same value up to RTOL (integers exactly; nan with nan, inf with inf of the same sign); for `errors`,
    the rule for error magnitudes above."""
    if recorded == current:
        return True
    a, b = float(recorded), float(current)
    if math.isnan(a) or math.isnan(b) or math.isinf(a) or math.isinf(b):
        return (math.isnan(a) and math.isnan(b)) or a == b
    if _is_integer(recorded) and _is_integer(current):
        return a == b
    if errors and abs(a) < ROUNDOFF_FLOOR and abs(b) < ROUNDOFF_FLOOR:
        return True
    if errors and 0 < abs(a) < ERROR_SCALE and 0 < abs(b) < ERROR_SCALE and (a > 0) == (b > 0):
        return max(abs(a), abs(b)) <= ERROR_FACTOR * min(abs(a), abs(b))
    return abs(a - b) <= RTOL * max(abs(a), abs(b))


def _is_integer(token: str) -> bool:
    return token.lstrip("+-").isdigit()


def difference(recorded: str, current: str, command: str = "") -> str | None:
    """None when `current` is `recorded` up to rounding; else a one-line description of the first change."""
    errors = command.startswith(AT_ROUNDOFF)
    rec_texts, rec_numbers = tokens(recorded.rstrip())
    cur_texts, cur_numbers = tokens(current.rstrip())
    for i, (r, c) in enumerate(zip(rec_texts, cur_texts, strict=False)):
        a, b = _layout(r), _layout(c)
        if a != b:
            at = next((k for k, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
            lo = max(at - 20, 0)
            return f"text differs after {i} numbers: {a[lo:at + 40]!r} recorded, {b[lo:at + 40]!r} now"
        if i < min(len(rec_numbers), len(cur_numbers)) and not numbers_agree(rec_numbers[i], cur_numbers[i], errors):
            return f"number {i + 1} differs beyond rounding: {rec_numbers[i]} recorded, {cur_numbers[i]} now"
    if len(rec_numbers) != len(cur_numbers):
        return f"{len(rec_numbers)} numbers recorded, {len(cur_numbers)} now"
    return None


def update(path: Path) -> None:
    """Rewrite the outputs of `path`'s console blocks, keeping a recorded output that differs only by rounding."""
    text = path.read_text()

    def fill(match: re.Match) -> str:
        parts = []
        for command, recorded in blocks(match.group(0)):
            output = run(command).rstrip()
            if difference(recorded, output, command) is None:
                output = recorded.rstrip()
            parts.append(f"$ {command}\n{output}".rstrip())
        return "```console\n" + "\n".join(parts) + "\n```"

    path.write_text(BLOCK.sub(fill, text))


if __name__ == "__main__":
    for document in DOCUMENTS:
        update(document)
