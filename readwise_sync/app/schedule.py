"""The daemon's schedule (apscheduler, tzlocal): its triggers, its scheduler, and the check
of both.

The only module that imports apscheduler, so a one-shot ``sync`` pays for it only when
the config sets a cron expression (then it is checked the way the daemon will use it).
:func:`make_trigger` is what the daemon runs on and :func:`cron_problem` builds the
very same trigger and asks it for its next run: an expression the daemon would
refuse, or one that never comes (``0 0 31 2 *``), is refused by every command alike.
"""

from __future__ import annotations

from datetime import datetime, tzinfo

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.combining import OrTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from tzlocal import get_localzone

from readwise_sync.app.crontab import DAYS, Cron, parse_cron
from readwise_sync.errors import ConfigError

DEFAULT_INTERVAL = 3600.0


def local_zone() -> tzinfo | None:
    """This machine's time zone, with its rules: a cron schedule stays on the wall clock
    across a daylight-saving change (a fixed offset taken at start would not)."""
    try:
        zone: tzinfo = get_localzone()
    except (LookupError, ValueError, OSError):  # no zone configured: the offset of now
        return datetime.now().astimezone().tzinfo
    return zone


def make_trigger(interval: float | None, cron: str | None, *, setting: str = "cron") -> BaseTrigger:
    """The trigger for an interval in seconds or a cron expression (default: every hour).

    ``setting`` names where the cron expression came from, for the message.
    """
    if cron:
        return _cron_trigger(parse_cron(cron, setting=setting))
    seconds = interval or DEFAULT_INTERVAL
    # A little jitter, so a fleet of laptops doesn't call Readwise at the same second.
    return IntervalTrigger(seconds=seconds, jitter=min(seconds * 0.05, 60.0))


def _cron_trigger(cron: Cron) -> BaseTrigger:
    """The trigger for a cron schedule as crontab(5) reads it. (Not apscheduler's own
    ``from_crontab``: it counts weekdays from Monday, so ``0`` would be Monday, and it
    requires both day fields to match, where cron runs on either.)"""
    common = {
        "minute": _listed(cron.minutes),
        "hour": _listed(cron.hours),
        "month": _listed(cron.months),
        "timezone": local_zone(),
    }
    weekdays = ",".join(DAYS[day] for day in sorted(cron.weekdays))
    if cron.either:
        return OrTrigger(
            [
                CronTrigger(day=_listed(cron.days), **common),
                CronTrigger(day_of_week=weekdays, **common),
            ]
        )
    return CronTrigger(day=_listed(cron.days), day_of_week=weekdays, **common)


def _listed(values: set[int]) -> str:
    return ",".join(str(value) for value in sorted(values))


def cron_problem(cron: str, *, setting: str) -> str | None:
    """Why the daemon could not run on this cron expression, in one line, or None.

    ``setting`` names the key or option (``cron``, ``--cron``).
    """
    try:
        trigger = make_trigger(None, cron, setting=setting)
    except ConfigError as exc:
        return str(exc)
    if trigger.get_next_fire_time(None, datetime.now(tz=local_zone())) is None:
        return f"{setting}: {cron!r} never comes (no such date)"
    return None


def make_scheduler() -> BackgroundScheduler:
    """A scheduler that runs one sync at a time and folds missed runs into one."""
    return BackgroundScheduler(
        timezone=local_zone(),
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
    )
