"""Documented examples are real output: every ```console block's `$ dlcli ...` lines are run and compared.

    python tests/readme_examples.py          # rewrite the outputs in README.md and docs/*.md from the code
    pytest tests/test_readme.py              # fail when a documented output is stale
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCUMENTS = [README, *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"```console\n(.*?)```", re.S)


def run(command: str) -> str:
    """Run one README command line (a shell line whose `dlcli` means this checkout's CLI); stdout+stderr."""
    shell_line = re.sub(r"(^|\| *|; *)dlcli\b", lambda m: f"{m.group(1)}{sys.executable} -m dlcli", command)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "120"}
    env.pop("NO_COLOR", None)
    out = subprocess.run(["bash", "-c", shell_line], capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    return out.stdout + out.stderr


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


def update(path: Path) -> None:
    text = path.read_text()

    def fill(match: re.Match) -> str:
        parts = []
        for command, _ in blocks(match.group(0)):
            parts.append(f"$ {command}\n{run(command).rstrip()}".rstrip())
        return "```console\n" + "\n".join(parts) + "\n```"

    path.write_text(BLOCK.sub(fill, text))


if __name__ == "__main__":
    for document in DOCUMENTS:
        update(document)
