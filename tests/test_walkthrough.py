"""The README's set-up, followed word for word in a fresh HOME, gives a service that can start.

The ``sh`` blocks of "Using it with your library" and "Running it in the background" are
read from README.md and run in order, in a temporary HOME, with ``readwise-sync`` this
checkout's, against the built-in fake Readwise (``READWISE_API_URL``: the README points at
readwise.io). Where a block is followed by its output, the real output must be that text
(the home folder read as ``/home/you``, the fake's URL as readwise.io).

Only what can't run here is stood in for: the token (an ``export READWISE_TOKEN=...``
placeholder gets the fake's), ``init``'s prompts, answered on a pseudo-terminal (the vault
as the README's example types it, the fake's token), and the ``systemctl`` / ``launchctl``
/ ``loginctl`` / ``journalctl`` lines, which are not run. In their
place the unit files ``service install`` wrote are checked by ``systemd-analyze verify`` and
then run as systemd would run them: the ``ExecStart=`` line split as systemd splits it, in
an environment holding only HOME, XDG_*, PATH and the unit's ``Environment=``, and no
READWISE_TOKEN, which a service never sees.
"""

from __future__ import annotations

import os
import pty
import re
import select
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from readwise_sync.app.service import ONCE, SERVICE, TIMER
from readwise_sync.readwise.fakeapi import FakeReadwise

from .conftest import TOKEN
from .factories import HANG, setting, systemd_words, unspecify, verify

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent  # the checkout's venv, where `readwise-sync` is installed
SECTIONS = ["Using it with your library", "Running it in the background"]
# A two-terminal recipe (a server that runs until Ctrl-C), followed by a test of its own.
TRIAL = "Try it without a Readwise account"
# Output shown for a library other than the walkthrough's (412 notes, a conflict).
ILLUSTRATIONS = {"Status"}
STAND_INS = ("systemctl", "launchctl", "loginctl", "journalctl")
PROMPTS = ("Obsidian vault folder: ", "Readwise token: ")
SHOWN_HOME = "/home/you"

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="service install writes systemd units on Linux"
)


@dataclass
class Block:
    """One ``sh`` block of the README: its subsection, its lines, the output shown after it."""

    subsection: str
    lines: list[str]
    output: str | None


def readme_blocks(section: str) -> list[Block]:
    """The ``sh`` blocks of ``## section`` (with its subsections), in order."""
    blocks: list[Block] = []
    inside, subsection, fence, indent, body = False, "", None, "", []
    waiting: Block | None = None  # an sh block whose output may come next
    for line in (ROOT / "README.md").read_text(encoding="utf-8").splitlines():
        if fence is not None:
            if line.strip() != "```":
                body.append(line.strip() if fence == "sh" else line.removeprefix(indent))
                continue
            if inside and fence == "sh":
                waiting = Block(subsection, [c for c in body if c and not c.startswith("#")], None)
                blocks.append(waiting)
            elif inside and fence == "" and waiting is not None:
                waiting.output, waiting = "\n".join(body), None
            fence, body = None, []
            continue
        if line.startswith("## "):
            inside, subsection = line[3:] == section, ""
        elif line.startswith("### "):
            subsection = line[4:]
        if line.strip().startswith("```"):
            fence, indent = line.strip()[3:], line[: len(line) - len(line.lstrip())]
        elif line.strip():
            waiting = None
    return blocks


def fresh_home(tmp_path: Path, api_url: str | None) -> tuple[Path, dict[str, str]]:
    """A home with only an Obsidian vault in it, and a shell environment that lives there."""
    home = tmp_path / "home"
    (home / "Obsidian" / "Main" / ".obsidian").mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("READWISE", "XDG_"))}
    env.update(xdg(home))
    env["PATH"] = f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"
    if api_url is not None:
        env["READWISE_API_URL"] = api_url
    return home, env


def xdg(home: Path) -> dict[str, str]:
    """HOME and the XDG folders platformdirs reads (paths.py), all under ``home``."""
    return {
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_STATE_HOME": str(home / ".local" / "state"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
    }


def on_a_terminal(command: str, answers: list[str], env: dict[str, str], cwd: Path) -> str:
    """Run ``command`` on a pseudo-terminal, typing each answer at its prompt; its output."""
    main, child_end = pty.openpty()
    process = subprocess.Popen(
        ["bash", "-c", command],
        stdin=child_end,
        stdout=child_end,
        stderr=child_end,
        env=env,
        cwd=cwd,
        start_new_session=True,  # no controlling terminal: getpass reads the pty on stdin
    )
    os.close(child_end)
    said = b""
    pending = list(zip(PROMPTS, answers, strict=True))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if pending and pending[0][0].encode() in said.rsplit(b"\n", 1)[-1]:
            os.write(main, pending.pop(0)[1].encode() + b"\n")
        ready, _, _ = select.select([main], [], [], 0.1)
        try:
            chunk = os.read(main, 4096) if ready else b""
        except OSError:  # the child has gone and closed its end
            chunk = b""
        said += chunk
        if not chunk and process.poll() is not None:
            break
    os.close(main)
    assert process.wait(timeout=HANG) == 0, said.decode(errors="replace")
    assert not pending, f"never asked {pending[0][0]!r}: {said!r}"
    return said.decode().replace("\r\n", "\n")


def run_block(block: Block, home: Path, env: dict[str, str], token: str) -> str:
    """Run the block's lines as the README says, each in its own shell (``export`` lines
    excepted: they set ``env``); what they printed. A ``systemctl`` line must be the
    enabling command ``service install`` printed just before it."""
    printed = ""
    for line in block.lines:
        if re.match(r"export READWISE_TOKEN=\.\.\.(\s|$)", line):
            env["READWISE_TOKEN"] = token  # the placeholder: your token
            continue
        if line.startswith(STAND_INS):
            if line.startswith("systemctl"):
                assert f"enable it with:\n  {line}\n" in printed, (line, printed)
            continue
        if line == "readwise-sync init":
            assert block.output is not None, "the README shows what init asks"
            vault = re.search(rf"^{PROMPTS[0]}(.+)$", block.output, re.MULTILINE)
            assert vault is not None, block.output
            printed += on_a_terminal(line, [vault.group(1), token], env, home)
            continue
        result = subprocess.run(
            ["bash", "-c", line],
            env=env,
            cwd=home,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,  # in the order a terminal shows them
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=60,
        )
        assert result.returncode == 0, f"{line}: {result.stdout}"
        printed += result.stdout
    return printed


def as_shown(text: str, home: Path, *shown: tuple[str, str]) -> list[str]:
    """``text`` as the README shows it: the home as /home/you, each (real, shown) pair."""
    text = text.replace(str(home), SHOWN_HOME)
    for real, instead in shown:
        text = text.replace(real, instead)
    return [line.rstrip() for line in text.strip("\n").splitlines()]


def unit_command(unit: Path, home: Path) -> tuple[list[str], dict[str, str]]:
    """The unit's ExecStart= as systemd splits it, and the environment systemd gives it:
    the user's HOME and XDG folders, a PATH, the unit's Environment= (nothing of a shell)."""
    text = unit.read_text(encoding="utf-8")
    (start,) = setting(text, "ExecStart")
    argv = [unspecify(word, exec_line=True) for word in systemd_words(start)]
    env = {**xdg(home), "PATH": "/usr/local/bin:/usr/bin:/bin"}  # systemd's, not the venv's
    for value in setting(text, "Environment"):
        for word in systemd_words(value):
            key, _, item = unspecify(word).partition("=")
            env[key] = item
    assert argv[0] == str(BIN / "readwise-sync"), argv
    return argv, env


def new_book(fake: FakeReadwise, title: str) -> str:
    """A book added in Readwise now; the highlight text its note will hold."""
    text = f"A highlight made for {title}."
    fake.add_book({"title": title, "category": "books", "highlights": [{"text": text}]})
    return text


def note_with(vault: Path, text: str) -> Path | None:
    """The visible note holding ``text``, if one is in place yet."""
    for note in vault.rglob("*.md"):
        try:
            if not note.name.startswith(".") and text in note.read_text(encoding="utf-8"):
                return note
        except FileNotFoundError:  # renamed away while we looked
            continue
    return None


def run_the_daemon(unit: Path, home: Path, vault: Path, fake: FakeReadwise) -> None:
    """Start the service's command as systemd would, see it sync, stop it as systemd does."""
    argv, env = unit_command(unit, home)
    text = new_book(fake, "Added while the service runs")
    log = home.parent / "daemon.log"
    with log.open("w") as out:
        daemon = subprocess.Popen(argv, env=env, stdout=out, stderr=out, cwd=home)
    try:
        deadline = time.monotonic() + 15
        while note_with(vault, text) is None and daemon.poll() is None:
            assert time.monotonic() < deadline, "the daemon wrote no note in 15 s"
            time.sleep(0.1)
        assert daemon.poll() is None, f"exit {daemon.returncode}: {log.read_text()}"
        daemon.send_signal(signal.SIGTERM)  # `systemctl --user stop`
        assert daemon.wait(timeout=HANG) == 0, log.read_text()
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()


def run_the_timer_once(unit: Path, home: Path, vault: Path, fake: FakeReadwise) -> None:
    """The one-shot service the timer starts, run once as systemd would: it syncs."""
    argv, env = unit_command(unit, home)
    text = new_book(fake, "Added before the timer fires")
    result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, cwd=home)
    assert result.returncode == 0, result.stdout + result.stderr
    assert note_with(vault, text) is not None, result.stdout + result.stderr


def test_the_readme_set_up_gives_a_service_that_syncs(tmp_path: Path) -> None:
    if not (BIN / "readwise-sync").exists():
        pytest.skip(f"readwise-sync is not installed in {BIN}")
    with FakeReadwise.demo(token=TOKEN) as fake:
        home, env = fresh_home(tmp_path, fake.url)
        assert shutil.which("readwise-sync", path=env["PATH"]) == str(BIN / "readwise-sync")
        blocks = [block for section in SECTIONS for block in readme_blocks(section)]
        assert all(readme_blocks(section) for section in SECTIONS), "a section renamed?"
        readwise = (fake.url, "https://readwise.io")
        for block in blocks:
            if block.subsection == TRIAL:
                continue
            printed = run_block(block, home, env, fake.token)
            if block.output is not None and block.subsection not in ILLUSTRATIONS:
                assert as_shown(printed, home, readwise) == as_shown(block.output, home)

        units = home / ".config" / "systemd" / "user"
        assert sorted(p.name for p in units.iterdir()) == sorted([SERVICE, ONCE, TIMER])
        if shutil.which("systemd-analyze"):
            result = verify(sorted(units.iterdir()), home, tmp_path)
            assert result.returncode == 0, result.stderr
            assert not (result.stdout + result.stderr).strip(), result.stderr
        vault = home / "Obsidian" / "Main"
        assert len(list((vault / "Readwise").rglob("*.md"))) == len(fake.books())
        run_the_daemon(units / SERVICE, home, vault, fake)
        run_the_timer_once(units / ONCE, home, vault, fake)


def test_the_readme_trial_against_the_fake_server(tmp_path: Path) -> None:
    """The README's trial: the fake server in one shell, its two lines pasted into
    another, then the trial's commands, each printing what the README shows."""
    serve, *steps = [b for b in readme_blocks(SECTIONS[0]) if b.subsection == TRIAL]
    assert serve.output is not None and len(serve.lines) == 1 and steps, serve
    home, env = fresh_home(tmp_path, None)
    server = subprocess.Popen(
        ["bash", "-c", serve.lines[0]],
        env=env,
        cwd=home,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert server.stdout is not None and server.stderr is not None
        pasted = [server.stdout.readline(), server.stdout.readline()]
        for line in pasted:
            key, _, value = line.strip().removeprefix("export ").partition("=")
            env[key] = value
        shown = dict(re.findall(r"^export (\w+)=(\S+)$", serve.output, re.MULTILINE))
        swaps = [(env[key], shown[key]) for key in ("READWISE_API_URL", "READWISE_TOKEN")]
        for block in steps:
            printed = run_block(block, home, env, env["READWISE_TOKEN"])
            if block.output is not None:
                assert as_shown(printed, home, *swaps) == as_shown(block.output, home)
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # the server's shell and the server alike
    assert server.wait(timeout=HANG) == 0
    said = server.stderr.read() + "".join(pasted)
    assert as_shown(said, home, *swaps) == as_shown(serve.output, home)
    for name in ("readwise-try", "readwise-try.toml", "readwise-try.token"):
        assert (home / name).exists(), name  # what the README says to remove
