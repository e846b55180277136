"""The daemon and the vault lock, as real processes against the fake server over real HTTP."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from readwise_sync.readwise.fakeapi import FakeReadwise

from .conftest import cli_env, note_files, run_cli
from .factories import HANG, wait_for

EXPORT = "/api/v2/export/"
STOPPED = "readwise-sync: stopped; the next run picks up from here"


def exports(fake: FakeReadwise) -> int:
    return sum(1 for r in fake.requests if r.path == EXPORT)


@pytest.fixture
def env(fake: FakeReadwise, tmp_path: Path) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("READWISE", "XDG_"))}
    return {**base, **cli_env(fake, tmp_path, 'timezone = "UTC"\ntimeout = 3\n')}


class Proc:
    """A readwise-sync child process whose stderr goes to a file we can read while it runs."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        self.handle = log.open("w")
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "readwise_sync", *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=self.handle,
            stdin=subprocess.DEVNULL,
            text=True,
        )

    def lines(self) -> list[str]:
        return self.log.read_text(encoding="utf-8").splitlines()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10) -> tuple[int, float]:
        started = time.monotonic()
        self.popen.send_signal(sig)
        code = self.popen.wait(timeout=timeout)
        return code, time.monotonic() - started

    def close(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait()
        self.handle.close()


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Callable[..., Proc]]:
    procs: list[Proc] = []

    def start(*args: str, env: dict[str, str]) -> Proc:
        proc = Proc(list(args), env, tmp_path / f"proc-{len(procs)}.log")
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        proc.close()


def test_daemon_syncs_on_schedule_and_stops_cleanly_on_sigterm(
    fake: FakeReadwise, vault: Path, env: dict[str, str], spawn: Callable[..., Proc]
) -> None:
    daemon = spawn("daemon", "--interval", "2s", "--vault", str(vault), env=env)
    assert wait_for(lambda: exports(fake) >= 3, 10), daemon.lines()  # at start, then twice more
    code, took = daemon.stop(signal.SIGTERM)
    assert code == 0 and took < 10
    assert len(note_files(vault)) == 4
    assert sum("sync done" in line for line in daemon.lines()) >= 2
    assert not any("Traceback" in line for line in daemon.lines())


def test_daemon_stops_cleanly_mid_sync(
    fake: FakeReadwise, vault: Path, env: dict[str, str], spawn: Callable[..., Proc]
) -> None:
    fake.delay(30)  # the first request hangs: SIGTERM arrives while a sync is running
    daemon = spawn("daemon", "--vault", str(vault), env=env)
    assert wait_for(lambda: exports(fake) >= 1, 10)
    code, took = daemon.stop(signal.SIGTERM)
    assert code == 0 and took < 10


def test_stopped_daemon_makes_one_run_on_resume_not_a_burst(
    fake: FakeReadwise, vault: Path, env: dict[str, str], spawn: Callable[..., Proc]
) -> None:
    daemon = spawn("daemon", "--interval", "1s", "--vault", str(vault), env=env)
    assert wait_for(lambda: exports(fake) >= 2, 10)
    daemon.popen.send_signal(signal.SIGSTOP)
    time.sleep(0.3)  # let anything in flight land
    before = exports(fake)
    time.sleep(5)  # several ticks missed
    assert exports(fake) == before
    daemon.popen.send_signal(signal.SIGCONT)
    assert wait_for(lambda: exports(fake) > before, 5)
    time.sleep(0.6)  # less than a tick: a burst would show up here
    assert exports(fake) == before + 1
    assert daemon.stop()[0] == 0


def test_daemon_rides_out_a_server_outage(
    fake: FakeReadwise, vault: Path, env: dict[str, str], spawn: Callable[..., Proc]
) -> None:
    fake.stop()  # the server is down: connections are refused
    daemon = spawn("daemon", "--interval", "1s", "--vault", str(vault), env=env)
    assert wait_for(lambda: sum("sync failed" in ln for ln in daemon.lines()) >= 3, 20)
    assert daemon.popen.poll() is None  # still running
    while_down = daemon.lines()
    fake.start()  # back, on the same port
    assert wait_for(lambda: any("sync done" in ln for ln in daemon.lines()), 20), daemon.lines()
    assert len(note_files(vault)) == 4
    # one line per failed attempt: nothing else was logged while the server was down
    assert "daemon started" in while_down[0]
    assert all("WARNING sync failed: no answer from" in line for line in while_down[1:]), while_down
    assert daemon.stop()[0] == 0


def test_rejected_token_stops_the_daemon_with_exit_3(
    fake: FakeReadwise, vault: Path, env: dict[str, str], spawn: Callable[..., Proc]
) -> None:
    daemon = spawn(
        "daemon", "--vault", str(vault), env={**env, "READWISE_TOKEN": "nope-0123456789"}
    )
    assert daemon.popen.wait(timeout=HANG) == 3
    assert any("token rejected" in line for line in daemon.lines())
    assert not any("nope-0123456789" in line for line in daemon.lines())


def test_a_redirect_stops_the_daemon_with_exit_2_naming_api_url(
    fake: FakeReadwise, vault: Path, env: dict[str, str], spawn: Callable[..., Proc]
) -> None:
    """No later run can mend a wrong api_url: stop, as for a broken config."""
    fake.redirect("https://example.invalid/api/v2/export/", times=100)
    daemon = spawn("daemon", "--vault", str(vault), env=env)
    assert daemon.popen.wait(timeout=HANG) == 2
    assert any("api_url" in line for line in daemon.lines())


def test_two_syncs_at_once_one_runs_the_other_exits_4(
    fake: FakeReadwise, vault: Path, env: dict[str, str], spawn: Callable[..., Proc], tmp_path: Path
) -> None:
    fake.delay(5)  # whichever run asks first holds the lock a while, even on a loaded machine
    first = spawn("sync", "--vault", str(vault), env=env)
    second = spawn("sync", "--vault", str(vault), env=env)
    codes = sorted([first.popen.wait(timeout=HANG), second.popen.wait(timeout=HANG)])
    assert codes == [0, 4], first.lines() + second.lines()
    loser = first if first.popen.returncode == 4 else second
    winner = second if loser is first else first
    (line,) = loser.lines()
    assert f"process {winner.popen.pid}" in line
    # the vault is exactly what a single run makes
    single = tmp_path / "single"
    single.mkdir()
    env_single = {**env, "READWISE_SYNC_STATE_DIR": str(tmp_path / "state-single")}
    assert (
        subprocess.run(
            [sys.executable, "-m", "readwise_sync", "sync", "-q", "--vault", str(single)],
            env=env_single,
            timeout=HANG,
        ).returncode
        == 0
    )
    assert note_files(vault) == note_files(single)


def test_second_sync_waits_with_wait_and_quiet_loser_is_silent(
    fake: FakeReadwise, vault: Path, env: dict[str, str], spawn: Callable[..., Proc]
) -> None:
    fake.delay(2)
    first = spawn("sync", "-q", "--vault", str(vault), env=env)
    assert wait_for(lambda: exports(fake) >= 1, 10)
    quiet = spawn("sync", "-q", "--vault", str(vault), env=env)
    assert quiet.popen.wait(timeout=HANG) == 4
    assert quiet.lines() == [] and quiet.popen.stdout and quiet.popen.stdout.read() == ""
    patient = spawn("sync", "--wait", "20", "--vault", str(vault), env=env)
    assert first.popen.wait(timeout=HANG) == 0
    assert patient.popen.wait(timeout=HANG) == 0


def test_lock_of_a_killed_run_is_taken_over(
    fake: FakeReadwise, vault: Path, env: dict[str, str], spawn: Callable[..., Proc], tmp_path: Path
) -> None:
    fake.delay(30)
    stuck = spawn("sync", "--vault", str(vault), env=env)
    assert wait_for(lambda: list((tmp_path / "state").glob("*.lock.holder")) != [], 10)
    stuck.popen.send_signal(signal.SIGKILL)
    stuck.popen.wait(timeout=HANG)
    fake.clear_faults()
    result = run_cli("sync", "--vault", str(vault), env=env, timeout=HANG)
    assert result.returncode == 0, result.stderr
    assert len(note_files(vault)) == 4


def test_status_shows_the_running_daemon(
    fake: FakeReadwise, vault: Path, env: dict[str, str], spawn: Callable[..., Proc]
) -> None:
    daemon = spawn("daemon", "--interval", "1h", "--vault", str(vault), env=env)
    assert wait_for(lambda: any("sync done" in ln for ln in daemon.lines()), 15)

    def status() -> str:
        return run_cli("status", "--vault", str(vault), env=env, timeout=HANG).stdout

    assert wait_for(lambda: f"daemon: running (pid {daemon.popen.pid})" in status(), 5)
    assert "last run:" in status() and ": ok, 4 created" in status()
    assert daemon.stop()[0] == 0
    assert "daemon: not running" in status()


def test_sighup_reloads_the_config_and_a_broken_one_is_refused(
    fake: FakeReadwise, vault: Path, env: dict[str, str], spawn: Callable[..., Proc]
) -> None:
    config = Path(env["READWISE_SYNC_CONFIG"])
    config.write_text(config.read_text() + 'interval = "1h"\n', encoding="utf-8")
    daemon = spawn("daemon", "--vault", str(vault), env=env)
    assert wait_for(lambda: any("sync done" in ln for ln in daemon.lines()), 15)
    before = exports(fake)
    config.write_text(config.read_text().replace('"1h"', '"1s"'), encoding="utf-8")
    daemon.popen.send_signal(signal.SIGHUP)
    assert wait_for(lambda: any("config reloaded" in ln for ln in daemon.lines()), 10)
    assert wait_for(lambda: exports(fake) >= before + 2, 10)  # the new interval is in force
    config.write_text("this is = not [valid toml\n", encoding="utf-8")
    daemon.popen.send_signal(signal.SIGHUP)
    assert wait_for(lambda: any("config not reloaded" in ln for ln in daemon.lines()), 10)
    assert daemon.popen.poll() is None  # a bad reload keeps the old config running
    assert daemon.stop()[0] == 0


def test_cron_schedule_and_a_bad_cron_expression(
    fake: FakeReadwise, vault: Path, env: dict[str, str], spawn: Callable[..., Proc]
) -> None:
    daemon = spawn("daemon", "--cron", "*/5 * * * *", "--vault", str(vault), env=env)
    assert wait_for(lambda: any("sync done" in ln for ln in daemon.lines()), 15)  # runs at start
    assert daemon.stop()[0] == 0
    bad = spawn("daemon", "--cron", "every tuesday", "--vault", str(vault), env=env)
    assert bad.popen.wait(timeout=HANG) == 2
    assert any("cron" in line for line in bad.lines())


def test_a_missing_vault_stops_the_daemon_at_start_with_exit_2(
    fake: FakeReadwise, env: dict[str, str], spawn: Callable[..., Proc], tmp_path: Path
) -> None:
    daemon = spawn("daemon", "--vault", str(tmp_path / "missing"), env=env)
    assert daemon.popen.wait(timeout=HANG) == 2
    (line,) = daemon.lines()
    assert line.startswith(f"readwise-sync: vault folder {tmp_path / 'missing'} does not exist")
    assert exports(fake) == 0


def test_a_vault_gone_while_the_daemon_runs_stops_it_with_exit_2(
    fake: FakeReadwise, vault: Path, env: dict[str, str], spawn: Callable[..., Proc], tmp_path: Path
) -> None:
    """A moved folder, or a drive unmounted for good: after three runs in a row find it
    gone, exit 2, as the README says of a broken config, never a line every interval for
    ever (nor a fresh vault in an empty mount point)."""
    daemon = spawn("daemon", "--interval", "1s", "--vault", str(vault), env=env)
    assert wait_for(lambda: any("sync done" in ln for ln in daemon.lines()), 15)
    vault.rename(tmp_path / "elsewhere")
    assert daemon.popen.wait(timeout=HANG) == 2
    gone = [line for line in daemon.lines() if "does not exist" in line]
    assert len(gone) == 3 and all(f"vault folder {vault} does not exist" in ln for ln in gone)
    assert "trying again at the next run" in gone[0] and "trying again" not in gone[-1]


def test_a_vault_back_at_the_next_run_keeps_the_daemon_going(
    fake: FakeReadwise, vault: Path, env: dict[str, str], spawn: Callable[..., Proc], tmp_path: Path
) -> None:
    """A drive unmounted for a moment (laptop sleep, a network share's hiccup)."""
    daemon = spawn("daemon", "--interval", "1s", "--vault", str(vault), env=env)
    assert wait_for(lambda: any("sync done" in ln for ln in daemon.lines()), 15)
    vault.rename(tmp_path / "away")
    assert wait_for(lambda: any("trying again" in ln for ln in daemon.lines()), 15)
    (tmp_path / "away").rename(vault)
    done = sum("sync done" in ln for ln in daemon.lines())
    assert wait_for(lambda: sum("sync done" in ln for ln in daemon.lines()) > done, 15)
    assert daemon.popen.poll() is None
    daemon.popen.send_signal(signal.SIGTERM)
    assert daemon.popen.wait(timeout=HANG) == 0


def test_a_rejected_token_from_a_token_file_is_named_by_its_file(
    fake: FakeReadwise, vault: Path, env: dict[str, str], spawn: Callable[..., Proc], tmp_path: Path
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("nope-0123456789\n", encoding="utf-8")
    token_file.chmod(0o600)
    config = Path(env["READWISE_SYNC_CONFIG"])
    config.write_text(config.read_text() + f'token_file = "{token_file}"\n', encoding="utf-8")
    env = {k: v for k, v in env.items() if k != "READWISE_TOKEN"}
    daemon = spawn("daemon", "--vault", str(vault), env=env)
    assert daemon.popen.wait(timeout=HANG) == 3
    rejected = [line for line in daemon.lines() if "token rejected" in line]
    assert rejected and f"check token_file {token_file}" in rejected[0]
    assert not any("READWISE_TOKEN" in line for line in daemon.lines())


def held_for_long(fake: FakeReadwise, env: dict[str, str]) -> None:
    """The next sync holds the lock for 30 s: its request waits that long for an answer."""
    config = Path(env["READWISE_SYNC_CONFIG"])
    config.write_text(config.read_text().replace("timeout = 3", "timeout = 60"))
    fake.delay(30)


def test_a_second_sync_names_the_whole_command_of_the_first(
    fake: FakeReadwise, env: dict[str, str], spawn: Callable[..., Proc], tmp_path: Path
) -> None:
    vault = tmp_path / "my vault"
    vault.mkdir()
    held_for_long(fake, env)
    first = spawn("sync", "--vault", str(vault), "--wait", "1", env=env)
    assert wait_for(lambda: list((tmp_path / "state").glob("*.lock.holder")) != [], 10)
    second = run_cli("sync", "--vault", str(vault), env=env, timeout=HANG)
    first.popen.kill()
    assert second.returncode == 4
    command = f"readwise-sync sync --vault {shlex.quote(str(vault))} --wait 1"
    assert f"process {first.popen.pid} ({command} since " in second.stderr


def test_sigterm_stops_a_sync_waiting_for_the_lock_at_once(
    fake: FakeReadwise, vault: Path, env: dict[str, str], spawn: Callable[..., Proc], tmp_path: Path
) -> None:
    held_for_long(fake, env)
    first = spawn("sync", "--vault", str(vault), env=env)
    assert wait_for(lambda: list((tmp_path / "state").glob("*.lock.holder")) != [], 10)
    patient = spawn("sync", "--wait", "60", "--vault", str(vault), env=env)
    time.sleep(3)  # started, and waiting for the lock
    try:
        code, took = patient.stop()
    finally:
        first.popen.kill()
    assert (code, patient.lines()) == (130, [STOPPED]) and took < 3
