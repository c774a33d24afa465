"""`dlcli report RUN.db`: exit codes, the JSON and CSV contracts, the terminal report, --html, --follow."""

from __future__ import annotations

import csv
import io
import json
import re
import signal
import subprocess
import sys
import time

import pytest

from conftest import ROOT, one_line_error, run_cli
from dlcli.runs.store import METRICS

pytest.importorskip("torch")

from store_maker import make_store, open_watch, train  # noqa: E402 - needs torch

ANSI = re.compile(r"\x1b\[")


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    """A healthy finished run and one whose gradients became non-finite."""
    folder = tmp_path_factory.mktemp("stores")
    return {"healthy": make_store(folder / "healthy.db"), "diverged": make_store(folder / "diverged.db", steps=40,
                                                                                 lr=3.0)}


def test_json_is_the_report_contract(cli, stores):
    result = cli("report", str(stores["healthy"]), "--format", "json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert {"steps", "findings", "verdict", "nonfinite", "headline", "modules", "loss"} <= set(doc)
    assert doc["verdict"] == "healthy" and doc["nonfinite"] is None and doc["findings"] == []
    assert [s["step"] for s in doc["steps"]] == list(range(1, 61, 5))
    first = doc["steps"][0]
    assert isinstance(first["loss"], float) and [r["name"] for r in first["layers"]] == ["0", "2", "4"]
    assert set(METRICS) <= set(first["layers"][0])
    assert doc["headline"]["steps"] == 60 and doc["headline"]["status"] == "finished"


def test_json_names_the_first_non_finite_gradient(cli, stores):
    doc = json.loads(cli("report", str(stores["diverged"]), "-f", "json").stdout)
    assert doc["verdict"] == "non-finite"
    assert set(doc["nonfinite"]) == {"step", "module"} and doc["nonfinite"]["module"] == "4"
    assert doc["findings"][0]["kind"] == "nonfinite" and doc["findings"][0]["step"] == doc["nonfinite"]["step"]


def test_csv_has_a_row_per_sampled_step_and_module(cli, stores):
    result = cli("report", str(stores["healthy"]), "-f", "csv")
    assert result.exit_code == 0, result.stderr
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0] == ["step", "loss", "module", *METRICS]
    assert len(rows) == 1 + 12 * 3
    assert float(rows[1][1]) == json.loads(cli("report", str(stores["healthy"]), "-f", "json").stdout)["steps"][0][
        "loss"]  # shortest round-trip decimals: the same float


def test_plain_when_piped_has_the_headline_findings_heat_map_and_loss(stores):
    result = run_cli("report", str(stores["diverged"]))
    assert result.returncode == 0, result.stderr
    out = result.stdout.decode()
    assert not ANSI.search(out) and result.stderr == b""
    assert re.search(r"^  steps +40 \(8 sampled, every 5\)$", out, re.M)
    step = _nonfinite_step(stores["diverged"])
    assert re.search(r"^  verdict +non-finite \(\d+ alarms(, \d+ notes?)?\)$", out, re.M)
    assert re.search(rf"^  non-finite +first non-finite gradient at step {step} in 4$", out, re.M)
    assert re.search(r"^findings \(most serious first\)$", out, re.M)
    assert re.search(rf"^  1\. alarm · step {step} · 4: first non-finite gradient at step {step} in `4`", out, re.M)
    assert "grad_norm by module and step (log colour scale)" in out and "loss per step" in out


def _nonfinite_step(path) -> int:
    from dlcli.runs.report import load_report

    return load_report(str(path)).nonfinite["step"]


def test_table_fits_80_columns_and_colour_follows_the_rules(stores):
    env = {"DLCLI_TERMINAL": "1", "COLUMNS": "80"}
    result = run_cli("report", str(stores["diverged"]), "--metric", "update_ratio", env=env)
    out = result.stdout.decode()
    assert result.returncode == 0 and ANSI.search(out)
    plain = ANSI.sub("", re.sub(r"\x1b\[[0-9;]*m", "", out))
    assert max(len(line) for line in plain.splitlines()) <= 80, plain
    assert "update_ratio by module and step" in plain
    quiet = run_cli("report", str(stores["diverged"]), env={**env, "NO_COLOR": "1"}).stdout.decode()
    assert not ANSI.search(quiet) and "verdict" in quiet


def test_every_metric_draws_and_by_block_too(cli, stores):
    for metric in METRICS:
        result = cli("report", str(stores["healthy"]), "--metric", metric, "--by", "block", "-f", "plain")
        assert result.exit_code == 0 and f"{'|act_mean|' if metric == 'act_mean' else metric} by block" in \
            result.stdout or "no value of" in result.stdout, (metric, result.stdout)


@pytest.mark.parametrize(("args", "fragment"), [
    (["missing.db"], "missing.db: no such file"),
    (["."], "is a directory"),
    (["pyproject.toml"], "is not a dlcli run store"),
])
def test_bad_files_are_one_line_and_exit_2(cli, args, fragment):
    one_line_error(cli("report", *args), fragment)


def test_bad_options_are_one_line_and_exit_2(cli, stores):
    one_line_error(cli("report", str(stores["healthy"]), "--metric", "gradnorm"), "unknown metric 'gradnorm'",
                   "grad_norm")
    one_line_error(cli("report", str(stores["healthy"]), "--by", "layer"), "--by must be one of auto, module, block")
    one_line_error(cli("report", str(stores["healthy"]), "--html", "-", "-f", "json"), "--html -")


def test_a_failed_write_exits_1_without_a_traceback(stores):
    result = run_cli("report", str(stores["healthy"]), "--html", "/dev/full")
    assert result.returncode == 1 and result.stderr.decode().count("\n") == 1, result.stderr
    assert "cannot write /dev/full" in result.stderr.decode()


def test_html_file_is_self_contained(cli, stores, tmp_path):
    page = tmp_path / "report.html"
    result = cli("report", str(stores["diverged"]), "--html", str(page), "-f", "json")
    assert result.exit_code == 0 and json.loads(result.stdout)["verdict"] == "non-finite"
    assert f"saved {page}" in result.stderr
    text = page.read_text()
    assert text.startswith("<!DOCTYPE html>") and text.count("<svg") == 5   # the loss, four heat maps
    assert "http://" not in text and "https://" not in text
    for fetch in ("<script", "<link", "<img", "<iframe", "src=", "@import", "url("):
        assert fetch not in text, fetch
    assert "Content-Security-Policy" in text and "default-src 'none'" in text
    step = _nonfinite_step(stores["diverged"])
    assert 'data-key="verdict"' in text and f"first non-finite gradient at step {step} in <code>4</code>" in text
    for metric in ("grad_norm", "update_ratio", "act_std", "dead_frac"):
        assert f'data-metric="{metric}"' in text


def test_html_dash_is_the_page_on_stdout_alone(stores):
    result = run_cli("report", str(stores["healthy"]), "--html", "-")
    assert result.returncode == 0 and result.stderr == b""
    out = result.stdout.decode()
    assert out.startswith("<!DOCTYPE html>") and out.rstrip().endswith("</html>")


def test_the_notebook_fragment_is_the_page_body(stores):
    from dlcli.runs.report import load_report

    report = load_report(str(stores["healthy"]))
    fragment = report._repr_html_()
    assert fragment.startswith('<div class="dlcli-report">') and "<html" not in fragment
    assert fragment in report.html()


def test_a_run_still_writing_reads_and_says_so(tmp_path):
    path = tmp_path / "live.db"
    w, model, opt = open_watch(path)
    try:
        train(w, model, opt, 12)
        w.writer.sync()
        result = run_cli("report", str(path), "--no-chart")
        assert result.returncode == 0, result.stderr
        assert "still running: step 11 so far" in result.stdout.decode()
        doc = json.loads(run_cli("report", str(path), "-f", "json").stdout)
        assert doc["status"] == "running" and [s["step"] for s in doc["steps"]] == [1, 6, 11]
    finally:
        w.close("interrupted")
    out = run_cli("report", str(path), "--no-chart").stdout.decode()
    assert "interrupted at step 12 (Ctrl-C): the run did not finish" in out


def _follow(path, *args):
    """`dlcli report PATH --follow ARGS` running; unbuffered pipes: reading its first line takes no more."""
    return subprocess.Popen([sys.executable, "-m", "dlcli", "report", str(path), "--follow", *args], bufsize=0,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT,
                            env={**_env(), "PYTHONPATH": str(ROOT)})


def _env():
    import os

    return {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "DLCLI_TERMINAL")}


def test_follow_redraws_until_the_run_ends(tmp_path):
    path = tmp_path / "live.db"
    w, model, opt = open_watch(path)
    try:
        train(w, model, opt, 6)
        w.writer.sync()
        follower = _follow(path, "--no-chart", "-f", "plain")
        assert follower.stdout.readline().decode().startswith("dlcli report")  # the first drawing is under way
        train(w, model, opt, 10)
    finally:
        w.close()
    out, err = follower.communicate(timeout=20)
    assert follower.returncode == 0, err
    text = out.decode()
    assert re.search(r"^  status +still running: step 6 so far$", text, re.M)
    assert re.search(r"^  status +finished$", text.split("still running")[-1], re.M)   # the last drawing


def test_follow_of_a_finished_run_draws_once(cli, stores):
    result = cli("report", str(stores["healthy"]), "--follow", "-f", "json")
    assert result.exit_code == 0 and len(result.stdout.splitlines()) == 1


def test_ctrl_c_ends_follow_with_130(tmp_path):
    path = tmp_path / "live.db"
    w, model, opt = open_watch(path)
    try:
        train(w, model, opt, 3)
        w.writer.sync()
        follower = _follow(path, "--no-chart", "-f", "plain")
        follower.stdout.readline()
        time.sleep(0.3)
        follower.send_signal(signal.SIGINT)
        out, err = follower.communicate(timeout=20)
    finally:
        w.close()
    assert follower.returncode == 130, err
    assert err.decode() == "dlcli: error: interrupted\n"
