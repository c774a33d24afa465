"""README.md and docs/*.md show real output of the current code."""

from __future__ import annotations

import pytest

from readme_examples import DOCUMENTS, README, blocks, run

EXAMPLES = [(command, recorded) for path in DOCUMENTS for command, recorded in blocks(path.read_text())]


def test_readme_has_examples():
    assert len(blocks(README.read_text())) >= 5


@pytest.mark.parametrize(("command", "recorded"), EXAMPLES, ids=[c for c, _ in EXAMPLES])
def test_readme_output_is_current(command, recorded):
    assert run(command).rstrip() == recorded.rstrip(), "README is stale: run python tests/readme_examples.py"
