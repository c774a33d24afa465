"""`dlcli report --html` in a real browser: Debian's headless Chromium opens the page offline, logs no console
message (an error, a blocked fetch, a script) and shows the headline's figures."""

from __future__ import annotations

import html
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from dlcli.runs import views
from dlcli.runs.report import load_report

pytest.importorskip("torch")

from store_maker import make_store  # noqa: E402 - needs torch

CANDIDATES = ("chromium", "chromium-browser", "/usr/bin/chromium", "/usr/lib/chromium/chromium")
CONSOLE = re.compile(r":CONSOLE[:(]")


def chromium() -> str:
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("no Chromium found (Debian: apt-get install chromium; .ci/run installs it when run as root)")


def open_in_browser(page: Path, tmp_path: Path) -> tuple[str, list[str]]:
    """The page's DOM once loaded, and every console message Chromium logged while loading it."""
    browser = chromium()
    profile = tmp_path / "profile"
    out = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                          f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", "--dump-dom",
                          page.resolve().as_uri()], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout, [line for line in out.stderr.splitlines() if CONSOLE.search(line)]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    return load_report(str(make_store(tmp_path_factory.mktemp("browser") / "run.db", steps=40, lr=3.0)))


def test_the_page_renders_without_console_messages_and_shows_the_headline(report, tmp_path):
    page = tmp_path / "report.html"
    page.write_text(report.html())
    dom, console = open_in_browser(page, tmp_path)
    assert console == []
    text = html.unescape(dom)
    h = report.headline()
    assert f'data-key="steps">{h["steps"]:,} (' in text
    assert f"{views.short(h['first_loss'])} at step 1 → {views.short(h['final_loss'])}" in text
    assert re.search(r'data-key="verdict"[^>]*>non-finite \(', text)
    assert "first non-finite gradient at step" in text
    assert len(re.findall(r"<svg\b", text)) == 5 and text.count("<rect") > 100   # loss + four heat maps, drawn


@pytest.mark.parametrize(("bad", "said"), [
    ("<script>no_such_function()</script>", "inline script"),
    ('<img src="https://example.invalid/x.png" alt="">', "Loading the image"),
])
def test_a_console_error_or_a_fetch_is_caught(report, tmp_path, bad, said):
    """The check above can fail: a script (blocked by the page's policy) or a fetch from the network is logged."""
    page = tmp_path / "bad.html"
    page.write_text(report.html().replace("</body>", bad + "</body>"))
    _, console = open_in_browser(page, tmp_path)
    assert console and any(said in line for line in console), console


def test_a_script_error_is_caught_on_a_page_without_a_policy(tmp_path):
    page = tmp_path / "plain.html"
    page.write_text("<!DOCTYPE html><html><body><p>x</p><script>no_such_function()</script></body></html>")
    _, console = open_in_browser(page, tmp_path)
    assert any("ReferenceError: no_such_function is not defined" in line for line in console), console
