"""The user's activations, kept as formulas in $XDG_CONFIG_HOME/dlcli/activations.json (else ~/.config/dlcli/):
written atomically with the old file's permissions; a corrupt file is an InputError and is never overwritten.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from dlcli import files
from dlcli.errors import InputError

FILE_NAME = "activations.json"


def config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or ""
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".config"
    return root / "dlcli" / FILE_NAME


def load() -> dict[str, dict[str, Any]]:
    """name -> {"formula": text, "params": {key: value}}; {} when there is no file."""
    path = config_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from None
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path} is not valid JSON ({exc}); fix or remove it (it was left untouched)") from None
    entries = data.get("activations") if isinstance(data, dict) else None
    ok = isinstance(entries, dict) and all(
        isinstance(v, dict) and isinstance(v.get("formula"), str) and isinstance(v.get("params", {}), dict)
        and all(isinstance(p, int | float) for p in v.get("params", {}).values())
        for v in entries.values())
    if not ok:
        raise InputError(f"{path} is not a dlcli activations file (expected {{\"activations\": {{NAME: "
                         f"{{\"formula\": ..., \"params\": {{...}}}}}}}}); fix or remove it (it was left untouched)")
    assert isinstance(entries, dict)
    return entries


def _save(entries: dict[str, dict[str, Any]]) -> None:
    path = config_path()
    text = json.dumps({"activations": entries}, indent=2, sort_keys=False) + "\n"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror}") from None
    files.write_text(str(path), text, "config")


def store(name: str, entry: dict[str, Any]) -> None:
    entries = load()
    entries[name] = entry
    _save(entries)


def remove(name: str) -> None:
    entries = load()
    if name not in entries:
        import difflib

        close = difflib.get_close_matches(name, list(entries), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else (
            f"; defined: {', '.join(entries)}" if entries else "; none is defined")
        raise InputError(f"no user activation '{name}'{hint}")
    del entries[name]
    _save(entries)
