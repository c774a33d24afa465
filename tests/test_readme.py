"""README.md shows real output of the current code."""

from __future__ import annotations

import pytest

from readme_examples import README, blocks, run

EXAMPLES = blocks(README.read_text())


def test_readme_has_examples():
    assert len(EXAMPLES) >= 5


@pytest.mark.parametrize(("command", "recorded"), EXAMPLES, ids=[c for c, _ in EXAMPLES])
def test_readme_output_is_current(command, recorded):
    assert run(command).rstrip() == recorded.rstrip(), "README is stale: run python tests/readme_examples.py"
