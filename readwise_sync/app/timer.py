"""The systemd timer's schedule: the config's ``interval`` or ``cron`` as ``[Timer]`` settings.

An interval that fits the clock (one dividing a minute, an hour or a day) becomes an
``OnCalendar=`` line, so ``Persistent=true`` can make up, once, a run missed while the
machine was off. Any other interval (45m, 90m, 7h) can't be written as a calendar
event, so it becomes a monotonic timer: ``OnActiveSec=`` runs a sync soon after the
timer starts (at enable and at each login), ``OnUnitActiveSec=`` then counts the
interval from the start of the last run; ``Persistent=`` has no meaning there.

A cron expression is read as crontab(5) reads it (see :mod:`crontab`), including the
rule that when both the day of the month and the day of the week are restricted a day
matching *either* runs. An ``OnCalendar=`` line needs every part to match, so that
case is two lines, whose union is the cron schedule.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import pairwise

from readwise_sync.app.config import parse_duration
from readwise_sync.app.crontab import parse_cron

_SYSTEMD_DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
_SPANS = [(86400, "d", "day"), (3600, "h", "hour"), (60, "min", "minute"), (1, "s", "second")]
DEFAULT_INTERVAL = "1h"
_PERSISTENT = [
    "# A run missed while the machine was off happens at the next boot.",
    "Persistent=true",
]


@dataclass(frozen=True)
class TimerSchedule:
    """What the timer unit says: its description and its ``[Timer]`` lines."""

    description: str
    lines: list[str] = field(default_factory=list)

    @property
    def calendars(self) -> list[str]:
        """The ``OnCalendar=`` values, for ``systemd-analyze calendar``."""
        return [line.split("=", 1)[1] for line in self.lines if line.startswith("OnCalendar=")]


def timer_schedule(interval: str | None, cron: str | None) -> TimerSchedule:
    """The timer for the daemon's schedule: ``cron``, else ``interval``, else every hour."""
    if cron:
        return TimerSchedule(
            f"Run readwise-sync on the cron schedule {cron.strip()!r}",
            [*(f"OnCalendar={spec}" for spec in cron_calendars(cron)), *_PERSISTENT],
        )
    seconds = parse_duration(interval or DEFAULT_INTERVAL)
    jitter = f"RandomizedDelaySec={timespan(min(seconds * 0.1, 300.0))}"
    # systemd wakes timers within a minute unless told otherwise; too loose for short runs.
    accuracy = ["AccuracySec=1s"] if seconds < 600 else []
    description = f"Run readwise-sync {_every(seconds)}"
    calendar = interval_calendar(seconds)
    if calendar is not None:
        return TimerSchedule(
            description, [f"OnCalendar={calendar}", jitter, *accuracy, *_PERSISTENT]
        )
    return TimerSchedule(
        description,
        [
            "# A minute after the timer starts (enable, login), then counted from each run.",
            "OnActiveSec=1min",
            f"OnUnitActiveSec={timespan(seconds)}",
            jitter,
            *accuracy,
        ],
    )


def interval_calendar(seconds: float) -> str | None:
    """A calendar event every ``seconds``, when the interval divides a minute, hour or day."""
    if seconds != int(seconds):
        return None
    whole = int(seconds)
    if whole == 3600:
        return "hourly"
    if whole == 86400:
        return "daily"
    if whole < 60 and 60 % whole == 0:
        return f"*-*-* *:*:00/{whole}"
    if whole < 3600 and whole % 60 == 0 and 60 % (whole // 60) == 0:
        return f"*-*-* *:00/{whole // 60}:00"
    if whole < 86400 and whole % 3600 == 0 and 24 % (whole // 3600) == 0:
        return f"*-*-* 00/{whole // 3600}:00:00"
    return None


def timespan(seconds: float) -> str:
    """``seconds`` in systemd's time span syntax, in the largest unit that is exact."""
    if seconds != int(seconds):
        return f"{round(seconds * 1000)}ms"
    for size, unit, _ in _SPANS:
        if int(seconds) % size == 0:
            return f"{int(seconds) // size}{unit}"
    raise AssertionError("unreachable: 1 divides every whole number")


def _every(seconds: float) -> str:
    if seconds != int(seconds):
        return f"every {seconds:g} seconds"
    for size, _, word in _SPANS:
        if int(seconds) % size == 0:
            count = int(seconds) // size
            return f"every {word}" if count == 1 else f"every {count} {word}s"
    raise AssertionError("unreachable")


def cron_calendars(cron: str) -> list[str]:
    """The ``OnCalendar=`` values whose union is the cron expression's schedule."""
    parsed = parse_cron(cron)
    time = f"{_component(parsed.hours, 0, 23)}:{_component(parsed.minutes, 0, 59)}:00"
    months = _component(parsed.months, 1, 12)
    days = _component(parsed.days, 1, 31)
    week = _weekdays(parsed.weekdays)
    if parsed.either:
        # crontab(5): either day matches; a calendar line needs both, so one line each.
        return [f"{week} *-{months}-* {time}", f"*-{months}-{days} {time}"]
    return [f"{week} *-{months}-{days} {time}".lstrip()]


def _component(values: set[int], low: int, high: int) -> str:
    """One part of a calendar event: ``*``, ``start/step``, or a list of values and ranges."""
    ordered = sorted(values)
    if ordered == list(range(low, high + 1)):
        return "*"
    steps = {b - a for a, b in pairwise(ordered)}
    if len(ordered) > 2 and len(steps) == 1 and ordered[-1] + steps.pop() > high:
        return f"{ordered[0]:02d}/{ordered[1] - ordered[0]}"
    return ",".join(
        f"{run[0]:02d}" if len(run) == 1 else f"{run[0]:02d}..{run[-1]:02d}"
        for run in _runs(ordered)
    )


def _runs(ordered: list[int]) -> list[list[int]]:
    runs: list[list[int]] = []
    for value in ordered:
        if runs and runs[-1][-1] + 1 == value:
            runs[-1].append(value)
        else:
            runs.append([value])
    return runs


def _weekdays(days: set[int]) -> str:
    """systemd's weekday list (empty for every day); its week starts on Monday."""
    if len(days) == 7:
        return ""
    monday_first = sorted(days, key=lambda day: (day + 6) % 7)
    runs = _runs([(day + 6) % 7 for day in monday_first])
    names = [_SYSTEMD_DAYS[(run[0] + 1) % 7] for run in runs]
    ends = [_SYSTEMD_DAYS[(run[-1] + 1) % 7] for run in runs]
    return ",".join(
        first if len(run) == 1 else f"{first}..{last}"
        for run, first, last in zip(runs, names, ends, strict=True)
    )
