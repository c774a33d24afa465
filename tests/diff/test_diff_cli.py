"""`dlcli diff A.db B.db` as a command: the JSON and CSV contracts, the terminal output, --html (a file, or the
page alone on stdout), and one line with exit 2 for every kind of bad input."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest

from conftest import one_line_error, run_cli

pytest.importorskip("torch")

from diff_maker import LINEARS, record  # noqa: E402 - needs torch

ANSI = re.compile(r"\x1b\[")


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    folder = tmp_path_factory.mktemp("diff_cli")
    return {"a": str(record(folder / "a.db")), "b": str(record(folder / "b.db", group=1, scale=100.0, from_step=21))}


def test_json_ranks_the_layers(cli, stores):
    result = cli("diff", stores["a"], stores["b"], "--format", "json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert {"a", "b", "layers", "steps", "modules", "only_a", "only_b", "loss_differs_from", "tolerance"} <= set(doc)
    assert [x["name"] for x in doc["layers"]][0] == "2" and sorted(x["name"] for x in doc["layers"]) == list(LINEARS)
    top = doc["layers"][0]
    assert (top["metric"], top["step"]) == ("update_ratio", 21) and abs(top["score"] - 2) < 1e-5
    scores = [x["score"] for x in doc["layers"]]
    assert scores == sorted(scores, reverse=True)
    assert doc["a"]["loss"]["steps"] == list(range(1, 41)) and doc["b"]["loss"]["values"][-1] < doc["a"]["loss"][
        "values"][-1]


def test_json_of_a_run_against_itself_says_nothing_differs(cli, stores):
    doc = json.loads(cli("diff", stores["a"], stores["a"], "-f", "json").stdout)
    assert doc["differing"] == 0 and all(x["score"] == 0 and x["metric"] is None and x["step"] is None
                                         for x in doc["layers"])


def test_csv_has_a_row_per_layer(cli, stores):
    rows = list(csv.reader(io.StringIO(cli("diff", stores["a"], stores["b"], "-f", "csv").stdout)))
    assert rows[0][:7] == ["rank", "name", "type", "score", "metric", "step", "peak_step"]
    assert [r[1] for r in rows[1:]][0] == "2" and len(rows) == 1 + len(LINEARS)


def test_plain_when_piped_and_a_table_in_80_columns(stores):
    result = run_cli("diff", stores["a"], stores["b"])
    out = result.stdout.decode()
    assert result.returncode == 0 and not ANSI.search(out) and result.stderr == b""
    assert re.search(r"^1\t2\t2\tupdate_ratio\t21\t×100\t", out, re.M), out
    assert re.search(r"^  changed +lr/1 0\.01 → 1 from step 21$", out, re.M)
    assert "difference, |log10(B/A)| by module and step" in out and "loss per step" in out
    same = run_cli("diff", stores["a"], stores["a"], "--no-chart").stdout.decode()
    assert "none: the runs agree on every layer and aligned step" in same and "loss per step" not in same
    table = run_cli("diff", stores["a"], stores["b"], env={"DLCLI_TERMINAL": "1", "COLUMNS": "80"}).stdout.decode()
    text = re.sub(r"\x1b\[[0-9;]*m", "", table)
    assert max(len(line) for line in text.splitlines()) <= 80, text
    assert "update_ratio" in text


def test_html_to_stdout_is_the_page_alone(stores):
    result = run_cli("diff", stores["a"], stores["b"], "--html", "-")
    page = result.stdout.decode()
    assert result.returncode == 0 and result.stderr == b""
    assert page.startswith("<!DOCTYPE html>") and page.endswith("</html>\n")
    assert "default-src 'none'" in page and "<script" not in page and "http://" not in page.replace(
        "http://www.w3.org", "")
    assert '<tr data-layer="2"><td>1</td>' in page and page.count("<svg") == 6   # the loss, five heat maps


def test_html_file_beside_json(cli, stores, tmp_path):
    page = tmp_path / "diff.html"
    result = cli("diff", stores["a"], stores["b"], "--html", str(page), "-f", "json")
    assert result.exit_code == 0 and json.loads(result.stdout)["layers"][0]["name"] == "2"
    assert f"saved {page}" in result.stderr and page.read_text().startswith("<!DOCTYPE html>")


@pytest.mark.parametrize(("args", "fragment"), [
    (["missing.db", "{a}"], "missing.db: no such file"),
    (["{a}", "pyproject.toml"], "is not a dlcli run store"),
    (["{a}", "."], "is a directory"),
    (["{a}"], "give two run stores"),
    (["{a}", "{a}", "{a}"], "give two run stores"),
    (["{a}", "{b}", "--metric", "gradnorm"], "unknown metric 'gradnorm'"),
    (["{a}", "{b}", "--tolerance", "-1"], "--tolerance must be zero or positive"),
    (["{a}", "{b}", "--html", "-", "-f", "json"], "--html -"),
    (["{a}", "{b}", "--batch", "8"], "--batch need(s) --model"),
    (["{a}", "{b}", "--model", "x.py:Net"], "not both"),
    (["--model", "x.py:Net", "--weights", "a.pt"], "--weights twice"),
    (["--model", "x.py:Net", "--weights", "a.pt", "--weights", "b.pt", "--metric", "act_std"], "--metric"),
])
def test_bad_input_is_one_line_and_exit_2(cli, stores, args, fragment):
    one_line_error(cli("diff", *(a.format(**stores) for a in args)), fragment)


def test_runs_of_different_models_are_one_line_and_exit_2(cli, stores, tmp_path):
    import torch

    import dlcli

    other = torch.nn.Sequential()
    other.add_module("fc", torch.nn.Linear(3, 2))
    opt = torch.optim.SGD(other.parameters(), lr=0.1)
    with dlcli.watch(other, opt, log=str(tmp_path / "other.db")):
        other(torch.ones(1, 3)).sum().backward()
        opt.step()
    one_line_error(cli("diff", stores["a"], str(tmp_path / "other.db")), "share no module", "0, 2, 4 vs fc")
