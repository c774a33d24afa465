"""The run store: one SQLite file per run (WAL: readable while it is written, a killed run keeps every committed
sample). The training thread only queues rows; a writer thread commits them in batches. The schema is in
docs/watch.md and versioned by `SCHEMA_VERSION`."""

from __future__ import annotations

import contextlib
import json
import math
import os
import queue
import sqlite3
import threading
from collections.abc import Iterable
from typing import Any

from dlcli.errors import InputError

FORMAT = "dlcli-run"
SCHEMA_VERSION = 1
METRICS = ("grad_norm", "weight_norm", "update_ratio", "grad_rms", "act_mean", "act_std", "act_absmax",
           "dead_frac", "saturated_frac")

SCHEMA = f"""
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE modules (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, type TEXT NOT NULL, block TEXT NOT NULL,
                      parameters INTEGER NOT NULL, activation TEXT);
CREATE TABLE samples (step INTEGER NOT NULL, module INTEGER NOT NULL REFERENCES modules(id),
                      {", ".join(f"{m} REAL" for m in METRICS)}, PRIMARY KEY (step, module));
CREATE TABLE scalars (step INTEGER NOT NULL, name TEXT NOT NULL, value REAL, PRIMARY KEY (step, name));
CREATE TABLE verdicts (step INTEGER PRIMARY KEY, verdict TEXT NOT NULL);
CREATE TABLE alarms (step INTEGER NOT NULL, kind TEXT NOT NULL, modules TEXT NOT NULL, text TEXT NOT NULL);
CREATE TABLE events (step INTEGER NOT NULL, kind TEXT NOT NULL, module TEXT, detail TEXT);
"""


def to_sql(x: float | None) -> float | str | None:
    """SQLite stores NaN as NULL (not measured): NaN is kept as the text 'nan', read back by `from_sql`."""
    return "nan" if x is not None and math.isnan(x) else x


def from_sql(x: Any) -> float | None:
    return None if x is None else float(x)


class RunWriter:
    """Creates the store and commits what the training thread queues, off that thread."""

    def __init__(self, path: str, config: dict[str, Any], modules: Iterable[tuple[str, str, str, int]],
                 overwrite: bool = False) -> None:
        self.path = path
        self.error: BaseException | None = None
        self.queue: queue.SimpleQueue[tuple[str, Any] | None] = queue.SimpleQueue()
        self.module_ids: dict[str, int] = {}
        db = _create(path, overwrite)
        try:
            db.executemany("INSERT INTO meta VALUES (?, ?)", [
                ("format", FORMAT), ("schema_version", str(SCHEMA_VERSION)), ("status", "running"),
                ("config", json.dumps(config, default=str))])
            for i, (name, kind, block, count) in enumerate(modules, start=1):
                db.execute("INSERT INTO modules VALUES (?, ?, ?, ?, ?, NULL)", (i, name, kind, block, count))
                self.module_ids[name] = i
            db.commit()
        except BaseException:
            db.close()
            raise
        self.thread = threading.Thread(target=self._run, args=(db,), name="dlcli-run-writer", daemon=True)
        self.thread.start()

    def put(self, kind: str, payload: Any) -> None:
        self.queue.put((kind, payload))

    def sync(self, timeout: float = 60.0) -> None:
        """Waits until everything queued so far is committed (a report read during the run)."""
        done = threading.Event()
        self.queue.put(("sync", done))
        done.wait(timeout)

    def close(self, status: str, timeout: float = 60.0) -> None:
        """Everything queued committed, then the status; waits for the writer at most `timeout` seconds."""
        self.queue.put(("meta", {"status": status}))
        self.queue.put(None)
        self.thread.join(timeout)

    def _run(self, db: sqlite3.Connection) -> None:
        done = False
        try:
            while not done:
                items = [self.queue.get()]
                while True:  # everything queued meanwhile goes into the same transaction
                    try:
                        items.append(self.queue.get_nowait())
                    except queue.Empty:
                        break
                with db:
                    for item in items:
                        if item is None:
                            done = True
                        else:
                            self._write(db, *item)
            with contextlib.suppress(sqlite3.Error):  # a finished run is one file (not while a reader holds it)
                db.execute("PRAGMA journal_mode=DELETE")
        except BaseException as exc:  # a full disk: the training goes on; close() warns
            self.error = exc
        finally:
            with contextlib.suppress(sqlite3.Error):
                db.close()

    def _write(self, db: sqlite3.Connection, kind: str, payload: Any) -> None:
        if kind == "sample":
            step, rows, verdict, alarms = payload
            db.executemany(f"INSERT OR REPLACE INTO samples VALUES ({', '.join('?' * (2 + len(METRICS)))})",
                           [(step, self.module_ids[name], *(to_sql(v) for v in values)) for name, values in rows])
            if verdict is not None:
                db.execute("INSERT OR REPLACE INTO verdicts VALUES (?, ?)", (step, verdict))
            db.executemany("INSERT INTO alarms VALUES (?, ?, ?, ?)",
                           [(step, a_kind, json.dumps(list(mods)), text) for a_kind, mods, text in alarms])
        elif kind == "scalars":
            db.executemany("INSERT OR REPLACE INTO scalars VALUES (?, ?, ?)",
                           [(s, n, to_sql(v)) for s, n, v in payload])
        elif kind == "activations":
            db.executemany("UPDATE modules SET activation = ? WHERE name = ?", [(a, n) for n, a in payload.items()])
        elif kind == "event":
            db.execute("INSERT INTO events VALUES (?, ?, ?, ?)", payload)
        elif kind == "sync":
            db.commit()
            payload.set()
        elif kind == "meta":
            db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                           [(k, v if isinstance(v, str) else json.dumps(v)) for k, v in payload.items()])


def _create(path: str, overwrite: bool) -> sqlite3.Connection:
    if os.path.isdir(path):
        raise InputError(f"{path} is a directory: give the run store a file name (runs/exp1.db)")
    if os.path.lexists(path):
        if not overwrite:
            raise InputError(f"{path} already exists: give each run its own file, or pass overwrite=True")
        for suffix in ("", "-wal", "-shm", "-journal"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path + suffix)
    folder = os.path.dirname(path)
    if folder:
        try:
            os.makedirs(folder, exist_ok=True)
        except OSError as exc:
            raise InputError(f"cannot create the folder of {path}: {exc.strerror or exc}") from None
    try:
        db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("BEGIN")
        db.executescript(SCHEMA)  # commits the BEGIN above with the schema
    except sqlite3.Error as exc:
        raise InputError(f"cannot create the run store {path}: {exc}") from None
    db.isolation_level = "DEFERRED"  # `with db:` opens and commits a transaction per batch
    return db


def _recovered(path: str) -> sqlite3.Connection:
    """The store and the write-ahead log a killed writer left, copied and read into memory: a read-only reader
    cannot rebuild the log's index itself, and the user's file stays as it is."""
    import shutil
    import tempfile

    with tempfile.TemporaryDirectory(prefix="dlcli-store-") as tmp:
        copy = os.path.join(tmp, "run.db")
        shutil.copyfile(path, copy)
        shutil.copyfile(path + "-wal", copy + "-wal")
        source = sqlite3.connect(copy)
        memory = sqlite3.connect(":memory:")
        source.backup(memory)
        source.close()
    return memory


def open_store(path: str) -> sqlite3.Connection:
    """A read-only connection to a run store, after checking it is one this dlcli reads (one clear line if not)."""
    if path != ":memory:" and os.path.isdir(path):
        raise InputError(f"{path} is a directory, not a run store")
    if not os.path.exists(path):
        raise InputError(f"{path}: no such file")
    try:
        try:
            db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        except sqlite3.OperationalError as exc:
            if "readonly" not in str(exc) or not os.path.exists(path + "-wal"):
                raise
            db = _recovered(path)  # a writer killed with its log not yet folded in: read from a copy
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.DatabaseError as exc:
        if "not a database" in str(exc):
            raise InputError(f"{path} is not a dlcli run store (not an SQLite database)") from None
        raise InputError(f"cannot read the run store {path}: {exc}") from None
    if "meta" not in tables:
        db.close()
        raise InputError(f"{path} is not a dlcli run store (an SQLite database without dlcli's tables)")
    meta = dict(db.execute("SELECT key, value FROM meta"))
    if meta.get("format") != FORMAT:
        db.close()
        raise InputError(f"{path} is not a dlcli run store (its format is {meta.get('format')!r})")
    version = meta.get("schema_version", "?")
    if version != str(SCHEMA_VERSION):
        db.close()
        newer = version.isdigit() and int(version) > SCHEMA_VERSION
        raise InputError(f"{path} has run-store schema version {version}; this dlcli reads version {SCHEMA_VERSION}"
                         + (" (upgrade dlcli)" if newer else " (record the run again with this dlcli)"))
    return db
