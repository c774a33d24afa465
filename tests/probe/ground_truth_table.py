"""Print the docs' table, model × expected × found, by running analyse_module on every model of the zoo.

    python tests/probe/ground_truth_table.py          # markdown on stdout
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[2])]

from dlcli.probe import analyse_module  # noqa: E402
from model_zoo import ZOO, Case  # noqa: E402


def expected(case: Case) -> str:
    if case.kind is None:
        return "healthy, no alarm"
    joined = {"all": " and ", "any": " or ", "first": ""}[case.match]
    where = ("first at " if case.match == "first" else "") + joined.join(f"`{m}`" for m in case.modules)
    return f"{case.kind} ({where})"


def found(case: Case) -> str:
    try:
        r = analyse_module(case.build(), seed=0, check_advice=False, **case.inputs())
    except Exception as exc:  # the table shows what happened, whatever it was
        return f"error: {type(exc).__name__}: {str(exc).splitlines()[0][:80]}"
    alarms = getattr(r, "alarms", None)
    if alarms is None:
        return f"verdict {r.verdict} (no alarms reported)"
    if not alarms:
        return f"{r.verdict}, no alarm"
    shown = "; ".join(f"{a.kind} ({', '.join(f'`{m}`' for m in a.modules[:4])}"
                      f"{', …' if len(a.modules) > 4 else ''})" for a in alarms)
    return f"{r.verdict}: {shown}"


def table() -> str:
    lines = ["| model | what it is | expected | found |", "|---|---|---|---|"]
    for name, case in ZOO.items():
        lines.append(f"| {name} | {case.description} | {expected(case)} | {found(case)} |")
    return "\n".join(lines)


if __name__ == "__main__":
    warnings.simplefilter("ignore")
    print(table())
