"""The background service: sync at start, then on a schedule (apscheduler), until told to stop.

* ``interval`` (``90s``, ``30m``, ``1h``, ``1d``) or a ``cron`` expression, with a
  little jitter so many machines don't hit Readwise at the same second;
* runs missed while the machine slept or the process was stopped become one
  run (coalesced), never a burst; one run at a time;
* a transient failure (network down, 5xx, 429) is one log line and a retry
  with backoff before the next tick (a 429 waits its ``Retry-After``);
* a rejected token or a bad config stops the daemon with exit 3 or 2, so a
  service manager shows it failed instead of restarting it forever;
* SIGTERM/SIGINT: the note being written is finished, what was done is
  recorded, exit 0; SIGHUP reloads the config.

While it runs, a small JSON file beside the vault's state says its pid and
next run, for ``readwise-sync status``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from types import FrameType
from typing import Any

from readwise_sync.app.checks import Need, preflight
from readwise_sync.app.config import Settings, parse_duration
from readwise_sync.app.locations import VaultLocations
from readwise_sync.app.schedule import BaseTrigger, local_zone, make_scheduler, make_trigger
from readwise_sync.app.wiring import sync_once
from readwise_sync.errors import (
    APIError,
    ConfigError,
    Interrupted,
    InvalidResponse,
    Locked,
    RateLimited,
    ReadwiseSyncError,
    Redirected,
    TokenRejected,
)
from readwise_sync.readwise.client import ReadwiseClient

log = logging.getLogger(__name__)

STOP_GRACE = 8.0  # seconds a stopping daemon waits for the run in progress
# What each run needs, checked before it starts: a vault gone since (a drive unmounted,
# a folder moved) stops the daemon with exit 2 like a broken config, never a log line
# every interval for ever.
RUN_NEEDS = Need.TOKEN | Need.WRITE
VAULT_MISSES = 3  # runs in a row finding the vault gone before the daemon stops (exit 2)


def read_daemon_status(settings: Settings) -> dict[str, Any] | None:
    """The running daemon's pid and next run, or None when no daemon is up."""
    try:
        status = VaultLocations.of(settings).daemon_status
        info = json.loads(status.read_text(encoding="utf-8"))
        os.kill(int(info["pid"]), 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return info


class Daemon:
    """Runs :func:`sync_once` on a schedule until stopped."""

    def __init__(
        self,
        load: Callable[[], Settings],
        *,
        interval: float | None = None,
        cron: str | None = None,
        retry_base: float = 30.0,
    ) -> None:
        self._load = load
        self._cli_schedule = (interval, cron)
        self.settings = load()
        self.retry_base = retry_base
        self._stop = threading.Event()
        self._reload = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self._failures = 0
        self._misses = 0  # runs in a row whose checks failed (see _ready)
        self._started = ""
        self.exit_code = 0
        self._scheduler = make_scheduler()

    # -- schedule -----------------------------------------------------------------------------

    def _trigger(self) -> BaseTrigger:
        interval, cron = self._cli_schedule
        if interval is None and cron is None:
            interval = parse_duration(self.settings.interval) if self.settings.interval else None
            cron = self.settings.cron
        return make_trigger(interval, cron)

    def _write_status(self) -> None:
        job = self._scheduler.get_job("sync")
        next_run = job.next_run_time.isoformat() if job and job.next_run_time else None
        info = {"pid": os.getpid(), "next_run": next_run, "started": self._started}
        with contextlib.suppress(OSError):
            path = VaultLocations.of(self.settings).daemon_status
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(info), encoding="utf-8")

    # -- one run ------------------------------------------------------------------------------

    def _tick(self) -> None:
        if self._stop.is_set():
            return
        self._idle.clear()
        try:
            self._run_once()
        finally:
            self._idle.set()
            self._write_status()

    def _ready(self) -> bool:
        """The checks every run makes. A vault gone since the start (a drive unmounted, a
        network share down) is tried again at the next runs; only when it stays gone for
        VAULT_MISSES runs in a row does the daemon stop (exit 2), never a line an
        interval for ever."""
        try:
            preflight(self.settings, needs=RUN_NEEDS)
        except ConfigError as exc:
            self._misses += 1
            last = self._misses >= VAULT_MISSES
            for line in exc.problems:
                log.error("%s%s", line, "" if last else "; trying again at the next run")
            if last:
                self.exit_code = exc.exit_code
                self._stop.set()
            return False
        self._misses = 0
        return True

    def _run_once(self) -> None:
        settings = self.settings
        if not self._ready():
            return
        try:
            # No retries inside the client: the daemon retries on its own schedule, so an
            # offline laptop logs one line per attempt, not a burst.
            with ReadwiseClient(
                settings.require_token(),
                settings.api_url,
                timeout=settings.timeout,
                max_retries=0,
                token_source=settings.token_source,
                stop=self._stop,  # SIGTERM ends a wait or a request at once
            ) as client:
                report = sync_once(settings, client=client, stop=self._stop)
        except Interrupted:
            log.info("stopped during a sync; what was written is recorded")
            return
        except Locked as exc:
            log.info("%s; skipping this run", exc)
            return
        except (TokenRejected, ConfigError, Redirected) as exc:  # no later run can mend these
            for line in str(exc).splitlines():
                log.error("%s", line)
            self.exit_code = exc.exit_code
            self._stop.set()
            return
        except (APIError, InvalidResponse) as exc:
            self._failures += 1
            self._schedule_retry(exc)
            return
        except ReadwiseSyncError as exc:  # the vault unmounted, the state locked, ...
            log.error("sync failed: %s", exc)
            return
        except Exception:
            log.exception("sync failed unexpectedly; the daemon keeps running")
            return
        self._failures = 0
        log.info("sync done: %s", report.summary())

    def _schedule_retry(self, error: ReadwiseSyncError) -> None:
        delay = min(self.retry_base * 2 ** (self._failures - 1), 3600.0)
        if isinstance(error, RateLimited):
            delay = max(delay, error.retry_after)
        job = self._scheduler.get_job("sync")
        when = datetime.now(tz=local_zone()) + timedelta(seconds=delay)
        if job is not None and job.next_run_time is not None and when >= job.next_run_time:
            log.warning("sync failed: %s; next try at the next scheduled run", error)
            return
        log.warning("sync failed: %s; retrying in %.0f s", error, delay)
        self._scheduler.add_job(
            self._tick, "date", run_date=when, id="retry", replace_existing=True
        )

    # -- lifecycle ----------------------------------------------------------------------------

    def _on_stop(self, signum: int, frame: FrameType | None) -> None:
        log.info("received %s; stopping", signal.Signals(signum).name)
        self._stop.set()

    def _on_hup(self, signum: int, frame: FrameType | None) -> None:
        self._reload.set()

    def _reload_config(self) -> None:
        self._reload.clear()
        try:
            settings = self._load()
            preflight(settings, needs=RUN_NEEDS)
            self.settings = settings
            self._scheduler.reschedule_job("sync", trigger=self._trigger())
        except ConfigError as exc:
            for line in exc.problems:
                log.error("config not reloaded: %s", line)
            return
        log.info("config reloaded")
        self._write_status()

    def run(self) -> int:
        """Run until SIGTERM/SIGINT (exit 0) or a token/config error (exit 3/2)."""
        trigger = self._trigger()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._on_stop)
        if hasattr(signal, "SIGHUP"):
            signal.signal(signal.SIGHUP, self._on_hup)
        self._started = datetime.now(tz=local_zone()).isoformat()
        self._scheduler.add_job(
            self._tick, trigger, id="sync", next_run_time=datetime.now(tz=local_zone())
        )
        self._scheduler.start()
        log.info("readwise-sync daemon started (pid %d) for %s", os.getpid(), self.settings.vault)
        try:
            while not self._stop.wait(1.0):
                if self._reload.is_set():
                    self._reload_config()
                # The scheduler sleeps on a clock that stands still while a laptop sleeps;
                # nudging it makes a run that fell due during sleep start right on wake.
                self._scheduler.wakeup()
        finally:
            self._scheduler.shutdown(wait=False)
            finished = self._idle.wait(STOP_GRACE)
            with contextlib.suppress(OSError):
                VaultLocations.of(self.settings).daemon_status.unlink()
        if not finished:
            # Only a request can still be in flight (writes check the stop flag between
            # notes), and every write is atomic and recorded: leaving now loses nothing.
            log.info("a request was still in flight; exiting without waiting for it")
            logging.shutdown()
            os._exit(self.exit_code)
        log.info("daemon stopped")
        return self.exit_code
