"""Start-up budget: `dlcli --help`, completion and numpy commands vs `import typer, rich, numpy, pydantic`.

Budget (issue 2): at most 1.5x the framework's floor. Run: python benchmarks/startup.py [repeats]
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _timing import FLOOR, PY, command_line, dlcli, medians, report  # noqa: E402

COMMANDS = {
    "floor: python -c 'import typer, rich, numpy, pydantic'": {"cmd": FLOOR},
    "dlcli --help": {"cmd": dlcli("--help")},
    "dlcli activations eval sigmoid 0.5": {"cmd": dlcli("activations", "eval", "sigmoid", "0.5")},
    "dlcli activations list": {"cmd": dlcli("activations", "list")},
    "dlcli activations show tanh": {"cmd": dlcli("activations", "show", "tanh")},
    "dlcli activations plot": {"cmd": dlcli("activations", "plot")},
    "completion: dlcli activations eval s<TAB>": {
        "cmd": f"COMP_WORDS='dlcli activations eval s' COMP_CWORD=3 _DLCLI_COMPLETE=complete_bash {PY} -m dlcli",
        "shell": True,
    },
}

if __name__ == "__main__":
    # CPU time by default: start-up is single-threaded, and CPU time is far less disturbed by other load.
    repeats, CLOCK = command_line(7)
    results = medians(COMMANDS, repeats, CLOCK)
    budgets = {name: ("<=", 1.5) for name in COMMANDS if not name.startswith("floor")}
    ok = report(f"start-up, {CLOCK} time, median of {repeats} interleaved runs (ratio to the framework floor)", results,
                next(iter(COMMANDS)), budgets)
    sys.exit(0 if ok else 1)
