"""`dlcli diff --html` in a real browser, by the same check as `dlcli report --html`'s page
(tests/runs/test_html_browser.py): headless Chromium logs no console message and shows the ranked layers."""

from __future__ import annotations

import html
import re
import sys

import pytest

from conftest import ROOT

pytest.importorskip("torch")

sys.path.insert(0, str(ROOT / "tests" / "runs"))
from diff_maker import record  # noqa: E402 - needs torch
from test_html_browser import open_in_browser  # noqa: E402

from dlcli.diff.html import page  # noqa: E402
from dlcli.diff.runs import load_diff  # noqa: E402


def test_the_diff_page_renders_without_console_messages(tmp_path):
    diff = load_diff(str(record(tmp_path / "a.db")), str(record(tmp_path / "b.db", group=1, scale=100.0,
                                                                  from_step=21)))
    path = tmp_path / "diff.html"
    path.write_text(page(diff))
    dom, console = open_in_browser(path, tmp_path)
    assert console == []
    text = html.unescape(dom)
    assert re.search(r'<tr data-layer="2"><td>1</td><td><code>2</code></td><td>2</td><td>update_ratio</td>'
                     r"<td>21</td><td>×100</td>", text), text[:3000]
    assert 'data-key="changed">lr/1 0.01 → 1 from step 21' in text
    assert len(re.findall(r"<svg\b", text)) == 6 and text.count("<rect") > 50   # the loss, five heat maps
