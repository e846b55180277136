"""The daemon runs on a cron expression when crontab(5) would, like the systemd timer."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from readwise_sync.app.crontab import parse_cron
from readwise_sync.app.schedule import cron_problem, make_trigger
from readwise_sync.errors import ConfigError

from .factories import CRONS, cron_times


@pytest.mark.parametrize(("cron", "matches"), CRONS)
def test_the_daemon_fires_when_cron_would(cron: str, matches: Callable[[datetime], bool]) -> None:
    """Sunday is 0 (and 7), and two restricted day fields mean either one: apscheduler's own
    reading of a crontab line counts weekdays from Monday and needs both."""
    trigger = make_trigger(None, cron)
    base = datetime(2026, 1, 1).astimezone()  # on the daemon's wall clock
    expected = cron_times(matches, base, 8)
    fired, previous, now = [], None, base
    while len(fired) < 8:
        moment = trigger.get_next_fire_time(previous, now)
        assert moment is not None
        fired.append(moment)
        previous, now = moment, moment
    assert [t.replace(tzinfo=None) for t in fired] == [t.replace(tzinfo=None) for t in expected]


def test_sunday_as_zero_is_sunday() -> None:
    after = datetime(2026, 12, 2, tzinfo=UTC)  # a Wednesday
    moment = make_trigger(None, "0 9 * * 0").get_next_fire_time(None, after)
    assert moment is not None and moment.astimezone(UTC).weekday() == 6


@pytest.mark.parametrize("cron", ["61 * * * *", "0 0 31 2 *", "a b c d e"])
def test_a_schedule_the_daemon_cannot_keep_is_one_line(cron: str) -> None:
    problem = cron_problem(cron, setting="cron")
    assert problem is not None and problem.startswith(f"cron: {cron!r}")


@pytest.mark.parametrize("cron", ["*/² * * * *", "² * * * *", "*/0 * * * *"])
def test_odd_digits_in_a_cron_field_are_refused_in_plain_words(cron: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_cron(cron)
    (line,) = caught.value.problems
    assert line.startswith(f"cron: {cron!r}") and "int()" not in line


def test_a_cron_schedule_keeps_the_wall_clock_across_a_daylight_saving_change() -> None:
    """09:00 is 09:00 on the Sunday summer time begins too, not 10:00."""
    code = (
        "from datetime import datetime\n"
        "from zoneinfo import ZoneInfo\n"
        "from readwise_sync.app.schedule import local_zone, make_trigger\n"
        "trigger = make_trigger(None, '0 9 * * *')\n"
        "moment = datetime(2027, 3, 27, tzinfo=local_zone())\n"
        "for _ in range(3):\n"
        "    moment = trigger.get_next_fire_time(None, moment)\n"
        "    print(moment.astimezone(ZoneInfo('Europe/Madrid')).strftime('%H:%M'))\n"
        "    moment = moment.replace(minute=1)\n"
    )
    env = {**os.environ, "TZ": "Europe/Madrid"}
    run = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert run.stdout.split() == ["09:00", "09:00", "09:00"]
