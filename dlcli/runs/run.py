"""A recorded run read back from its store: the configuration, the modules, every sampled step's rows as
steps × modules arrays, the recorded scalars (the loss, learning rates), the verdict and alarms of each sample."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dlcli.runs.store import METRICS, from_sql, open_store


@dataclass(frozen=True)
class Module:
    name: str
    type: str
    block: str
    parameters: int
    activation: str | None


@dataclass
class Run:
    """A run as stored. `values[metric]` is steps × modules (NaN where not measured, `known` says which)."""

    path: str
    config: dict[str, Any]
    status: str
    modules: list[Module]
    steps: np.ndarray                               # the sampled steps, ascending
    values: dict[str, np.ndarray]
    known: dict[str, np.ndarray]
    scalars: dict[str, tuple[np.ndarray, np.ndarray]]   # name -> (steps, values)
    verdicts: dict[int, str]
    alarms: list[tuple[int, str, tuple[str, ...], str]]  # (step, kind, modules, text)
    events: list[tuple[int, str, str | None, str | None]]
    meta: dict[str, str] = field(default_factory=dict)

    @property
    def last_step(self) -> int:
        """The last step the store knows of: sampled, or with a recorded scalar."""
        ends = [int(self.steps[-1])] if len(self.steps) else []
        ends += [int(s[-1]) for s, _ in self.scalars.values() if len(s)]
        return max(ends, default=0)

    def metric(self, metric: str, module: str) -> tuple[np.ndarray, np.ndarray]:
        """(steps, values) of one module's metric where it was measured."""
        j = [m.name for m in self.modules].index(module)
        k = self.known[metric][:, j]
        return self.steps[k], self.values[metric][:, j][k]


def load_run(path: str) -> Run:
    """The run in the store at `path` (one clear line if it is not a dlcli run store this version reads)."""
    db = open_store(path)
    try:
        meta = dict(db.execute("SELECT key, value FROM meta"))
        modules = [Module(*r) for r in db.execute(
            "SELECT name, type, block, parameters, activation FROM modules ORDER BY id")]
        ids = [r[0] for r in db.execute("SELECT id FROM modules ORDER BY id")]
        column = {mid: j for j, mid in enumerate(ids)}
        rows = db.execute(f"SELECT step, module, {', '.join(METRICS)} FROM samples ORDER BY step").fetchall()
        steps = np.array(sorted({r[0] for r in rows}), dtype=np.int64)
        at = {int(s): i for i, s in enumerate(steps)}
        values = {m: np.full((len(steps), len(modules)), np.nan) for m in METRICS}
        known = {m: np.zeros((len(steps), len(modules)), dtype=bool) for m in METRICS}
        for r in rows:
            i, j = at[r[0]], column[r[1]]
            for m, v in zip(METRICS, r[2:], strict=True):
                x = from_sql(v)
                if x is not None:
                    values[m][i, j] = x
                    known[m][i, j] = True
        scalars: dict[str, tuple[list[int], list[float]]] = {}
        for step, name, v in db.execute("SELECT step, name, value FROM scalars ORDER BY name, step"):
            x = from_sql(v)
            if x is not None:
                got = scalars.setdefault(name, ([], []))
                got[0].append(step)
                got[1].append(x)
        verdicts = dict(db.execute("SELECT step, verdict FROM verdicts ORDER BY step"))
        alarms = [(s, k, tuple(json.loads(mods)), t) for s, k, mods, t in
                  db.execute("SELECT step, kind, modules, text FROM alarms ORDER BY step, rowid")]
        events = list(db.execute("SELECT step, kind, module, detail FROM events ORDER BY step, rowid"))
    finally:
        db.close()
    return Run(path, json.loads(meta.get("config", "{}")), meta.get("status", "running"), modules, steps, values,
               known, {n: (np.array(s, dtype=np.int64), np.array(v)) for n, (s, v) in scalars.items()},
               verdicts, alarms, events, meta)
