"""Cron expressions read as crontab(5) reads them. Pure: text in, values out.

Five fields (minute, hour, day of month, month, day of week) with ``*``, ``*/n``,
ranges, lists, month and day names, and Sunday as 0 or 7. When both the day of the
month and the day of the week are restricted (neither starts with ``*``), a day
matching *either* runs: :attr:`Cron.either`. The systemd timer (:mod:`timer`) and the
daemon's trigger (:mod:`schedule`) both start from :func:`parse_cron`, so the two run
at the same times.
"""

from __future__ import annotations

from dataclasses import dataclass

from readwise_sync.errors import ConfigError

MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
# minute, hour, day of month, month, day of week: (low, high, names from low)
_FIELDS: list[tuple[int, int, list[str]]] = [
    (0, 59, []),
    (0, 23, []),
    (1, 31, []),
    (1, 12, MONTHS),
    (0, 7, DAYS),
]


@dataclass(frozen=True)
class Cron:
    """The values each field matches; weekdays 0 (Sunday) to 6."""

    minutes: set[int]
    hours: set[int]
    days: set[int]
    months: set[int]
    weekdays: set[int]
    either: bool  # both day fields restricted: a day matching either one runs


def parse_cron(cron: str, *, setting: str = "cron") -> Cron:
    """The schedule of a five-field cron expression; ConfigError naming ``setting``."""
    fields = cron.split()
    if len(fields) != 5:
        raise ConfigError(f"{setting}: {cron!r} needs five fields, like '*/30 * * * *'")
    try:
        minute, hour, day, month, weekday = (
            _values(text, *spec) for text, spec in zip(fields, _FIELDS, strict=True)
        )
    except ValueError as exc:
        raise ConfigError(f"{setting}: {cron!r} is not a cron expression ({exc})") from None
    either = not fields[2].startswith("*") and not fields[4].startswith("*")
    return Cron(minute, hour, day, month, {value % 7 for value in weekday}, either)


def _number(text: str, low: int, names: list[str]) -> int:
    lowered = text.lower()
    if lowered in names:
        return names.index(lowered) + low
    if not (text.isascii() and text.isdigit()):
        raise ValueError(f"{text!r} is not a number")
    return int(text)


def _values(text: str, low: int, high: int, names: list[str]) -> set[int]:
    """The values one cron field matches."""
    values: set[int] = set()
    for part in text.split(","):
        base, slash, step_text = part.partition("/")
        step = int(step_text) if step_text.isascii() and step_text.isdigit() else 0
        if slash and step < 1:
            raise ValueError(f"{part!r} needs a step of 1 or more after '/'")
        if base == "*":
            first, last = low, high
        elif "-" in base:
            start, _, end = base.partition("-")
            first, last = _number(start, low, names), _number(end, low, names)
        else:
            first = _number(base, low, names)
            last = high if slash else first  # "5/15": from 5 on, as cronie reads it
        if not low <= first <= last <= high:
            raise ValueError(f"{part!r} is outside {low}-{high}")
        values.update(range(first, last + 1, step or 1))
    return values
