"""The two kinds of failure every command distinguishes: bad input (exit 2) and a failed run (exit 1)."""

from __future__ import annotations

from collections.abc import Iterable


class InputError(ValueError):
    """The user asked for something invalid: a bad name, number, option or file. The CLI exits 2."""


class RunError(RuntimeError):
    """The input was fine but the run failed (a check did not pass, a resource ran out). The CLI exits 1."""


def unknown_name(kind: str, name: str, choices: Iterable[str]) -> InputError:
    """An InputError for an unknown `name`, suggesting the closest of `choices`."""
    import difflib

    choices = list(choices)
    close = difflib.get_close_matches(name.lower(), choices, n=1, cutoff=0.5)
    hint = f"; did you mean '{close[0]}'?" if close else f"; choose from: {', '.join(choices)}"
    return InputError(f"unknown {kind} '{name}'{hint}")


def count(n: int, word: str, plural: str | None = None) -> str:
    """'1 epoch', '3 epochs', '1,882 functions': a number and its noun in the right number."""
    return f"{n:,} {word if n == 1 else plural or word + 's'}"


def with_article(noun: str) -> str:
    """'an int', 'a str', 'an ndarray', 'a uniform': the noun after the article its sound takes."""
    first = noun[:1].lower()
    digits = len(noun) - len(noun.lstrip("0123456789"))
    if digits:  # 8, 11, 18, 8192, 11000: said "eight", "eleven", "eighteen"
        vowel = first == "8" or noun[:2] in ("11", "18") and digits % 3 == 2
        return f"{'an' if vowel else 'a'} {noun}"
    if noun[:2].isupper() or noun.lower().startswith(("nd", "np")):  # LSTM, RNN, ndarray: said letter by letter
        vowel = first in "aefhilmnorsx"
    else:
        vowel = first in "aeiou" and not noun.lower().startswith(("uni", "use", "usu", "one"))
    return f"{'an' if vowel else 'a'} {noun}"


def kind_of(value: object) -> str:
    """What a value is, for a message: 'None', 'an int', 'a dict'."""
    return "None" if value is None else with_article(type(value).__name__)
