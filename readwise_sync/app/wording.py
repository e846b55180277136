"""The sentences readwise-sync says to its user, built from what the engine reports.

Plain text in, lines out; the CLI prints them (click lives there). Keeping them here
keeps one wording for each thing, whichever command says it.
"""

from __future__ import annotations

import os
import shlex
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

    from readwise_sync.app.config import Settings
    from readwise_sync.app.initialize import Target
    from readwise_sync.engine.decisions import Skip
    from readwise_sync.engine.report import SyncReport
    from readwise_sync.engine.resolving import Waiting


KEPT_APART = (
    "a version you saved while the sync wrote the note, kept apart: take what you want"
    " from it into the note, then delete it"
)
STOPPED = "stopped; the next run picks up from here"
STOPPED_AT_PROMPT = "stopped; nothing written"
BOTH_SCHEDULES = "give --interval or --cron, not both"
NO_CHOICE = "say which version to keep: --take-readwise or --keep-mine"
NOTHING_ON_STDIN = "--token -: nothing came on stdin"
NOTHING_INSTALLED = "nothing installed"


def settled_line(note: str, block_id: str, *, take: bool) -> str:
    """A conflict ``resolve`` settled: Readwise's version taken (``take``) or the user's kept."""
    kept = "Readwise's version put in the note" if take else "your version kept"
    return f"{note} [{block_id}]: settled, {kept}"


def read_only_line(path: str) -> str:
    return f"{path} is read-only; nothing written"


def from_environment_line(setting: str, variable: str) -> str:
    """``init`` took ``setting`` from the environment's ``variable``."""
    return f"{setting}: from {variable}"


def cannot_ask(setting: str, option: str) -> str:
    """``init`` lacks ``setting`` and has no terminal to ask on."""
    return f"no {setting}: pass {option} (stdin is not a terminal to ask on)"


def demo_not_a_folder(path: Path) -> str:
    return f"demo: {path} is not a folder"


def demo_not_empty(path: Path, theirs: Path) -> str:
    return (
        f"demo: {path} already holds notes the demo didn't write ({theirs}); "
        "give it a new or empty folder"
    )


def demo_cannot_create(path: Path, reason: str | None) -> str:
    return f"demo: cannot create {path} ({reason})"


def cannot_listen(port: int, reason: str | None) -> str:
    return f"--port {port}: cannot listen on 127.0.0.1 ({reason})"


def fake_server_lines(count: int, url: str, token: str) -> tuple[list[str], list[str]]:
    """What ``fake-server`` says as it starts: to stderr, and to stdout (the shell's lines)."""
    told = [
        f"fake Readwise: {count} documents at {url}, until Ctrl-C.",
        "Run these in the shell you try readwise-sync from:",
    ]
    return told, [f"export READWISE_API_URL={url}", f"export READWISE_TOKEN={token}"]


def installed_lines(written: list[Path], enable: str) -> list[str]:
    """What ``service install`` wrote, and the command that enables it."""
    return [f"wrote {path}" for path in written] + [f"enable it with:\n  {enable}"]


def left_alone(reason: Skip) -> str:
    """Why a note was left as it was, as the closing report says it (by the report's lists)."""
    # Imported here: the engine's decisions load the notes and the wire models, which
    # `--version` and `--help` (importing this module) never need.
    from readwise_sync.engine.decisions import Skip

    return {
        Skip.MISSING: "deleted by you, not recreated (--recreate-deleted brings it back)",
        Skip.READ_ONLY: "read-only or outside the vault, left untouched",
        Skip.DELETED_UPSTREAM: "deleted in Readwise, kept in the vault",
        Skip.JUST_SAVED: (
            "being edited (just saved, or saved as it was written); left for the next run"
        ),
        Skip.OFFLOADED: (
            "offloaded to iCloud (only in the cloud); download it and the next sync updates it"
        ),
    }[reason]


def exposed_token(settings: Settings) -> str | None:
    """A warning when the file holding the token is open to others (the mode `check` and
    `sync` warn of), else None."""
    holder = settings.token_path
    try:
        exposed = holder is not None and os.name == "posix" and holder.stat().st_mode & 0o077
    except OSError:
        return None
    if not exposed:
        return None
    return f"{holder} holds the token and is readable by others; run: chmod 600 {holder}"


def report_lines(report: SyncReport) -> list[str]:
    """What a sync did, as printed after it: the notes left alone and why, then the summary."""
    lines: list[str] = []
    if report.dry_run:  # (the same lines as log lines are kept off the terminal)
        created = set(report.created)
        for path, what in report.changes:
            verb = "would create" if path in created else "would update"
            lines.append(f"{verb} {path}: {what}")
    notes = [
        ("has conflicts, your text kept (see `readwise-sync status`)", report.conflicts),
        *((left_alone(reason), paths) for reason, paths in report.left_alone()),
        (KEPT_APART, report.copies),
        ("existing note adopted", report.adopted),
    ]
    for label, paths in notes:
        for path in paths:
            lines.append(f"{path}: {label}")
    for old, new in report.moved:
        lines.append(f"{new}: moved from {old}, followed")
    for advice in report.cloud_copies:
        lines.append(advice)
    for _, why in report.failed:
        lines.append(f"{why}; the rest synced, this one is tried again next run")
    lines.append(report.summary())
    return lines


def status_lines(info: dict[str, Any]) -> list[str]:
    """``readwise-sync status`` as text, from :func:`overview.status_info`."""
    lines: list[str] = []
    lines.append(f"vault: {info['vault']}")
    last = info["last_run"]
    if last:
        created, updated = len(last["created"]), len(last["updated"])
        changed = last.get("highlights_changed")
        highlights = (
            f"{last.get('highlights', 0)} highlights in the notes written"  # an older version's
            if changed is None
            else f"{changed} new or changed highlight{'s' if changed != 1 else ''}"
        )
        lines.append(
            f"last run: {last['finished_at']}: {last.get('result', 'ok')}, {created} created, "
            f"{updated} updated, {highlights}"
        )
    else:
        lines.append("last run: never")
    daemon_info = info["daemon"]
    if daemon_info:
        lines.append(
            f"daemon: running (pid {daemon_info['pid']}), next run {daemon_info['next_run']}"
        )
    else:
        lines.append("daemon: not running")
    lines.append(f"notes tracked: {info['notes_tracked']}")
    lines += conflict_lines(info["conflicts"])
    lines.append(f"state: {info['state']}")
    lines.append(f"config: {info['config'] or 'none (defaults and environment)'}")
    lines.append(f"log file: {info['log_file'] or 'none (logs go to stderr)'}")
    return lines


def conflict_info(item: Waiting) -> dict[str, Any]:
    seen = item.versions
    return {
        "book_id": item.book_id,
        "block_id": seen.block_id,
        "path": item.path,
        "state": item.standing.value,
        "written": seen.written,
        "upstream": seen.upstream,
        "mine": seen.mine,
        "detected_at": item.detected_at,
    }


def _version_lines(label: str, text: str | None, missing: str) -> list[str]:
    lines: list[str] = []
    lines.append(f"    {label}:")
    for line in (text or "").rstrip("\n").split("\n") if text else [missing]:
        lines.append(f"      {line}")
    return lines


def conflict_lines(conflicts: list[dict[str, Any]]) -> list[str]:
    """Each conflict in whole lines: what the tool wrote, what Readwise has, what the note
    has; then how it goes away."""
    lines: list[str] = []
    open_ones = [c for c in conflicts if c["state"] == "waiting"]
    lines.append(f"conflicts waiting: {len(open_ones)}")
    for conflict in open_ones:
        since = conflict["detected_at"]
        lines.append(f"  {conflict['path']} [{conflict['block_id']}], since {since}:")
        lines += _version_lines("the tool wrote", conflict["written"], "(nothing recorded)")
        lines += _version_lines("Readwise has now", conflict["upstream"], "(deleted in Readwise)")
        lines += _version_lines("your note has", conflict["mine"], "(not found in the note)")
    if open_ones:
        example = shlex.quote(open_ones[0]["path"])
        lines.append(
            "  To settle one, make the note say what Readwise has now (or delete the block),"
            " then sync; or run:\n"
            f"    readwise-sync resolve {example} --take-readwise   (or --keep-mine)"
        )
    settled = len(conflicts) - len(open_ones)
    if settled:
        lines.append(f"conflicts settled in the note, cleared at the next sync: {settled}")
    return lines


def failure_line(error: BaseException) -> str:
    """An error of no kind of ours, in one line without Python's text: a file error is the
    file and the reason; anything else says where the details are."""
    if isinstance(error, OSError):
        files = [str(name) for name in (error.filename, error.filename2) if name is not None]
        reason = error.strerror or "the operation failed"
        return f"{' -> '.join(files)}: {reason}" if files else f"a file operation failed: {reason}"
    return "unexpected error, not of your making; run with -v for the details to report"


def init_lines(target: Target, root: Path, url: str, *, shadowed: bool) -> list[str]:
    """What ``init`` wrote, and the commands to run next (``shadowed``: this shell's
    READWISE_TOKEN is another token, and would win over the file)."""
    named = "" if target.default else f" --config {shlex.quote(str(target.config))}"
    lines = [
        f"token: accepted by {url}",
        f"wrote {target.token_file} (the token, readable only by you)",
        f"wrote {target.config} (vault = {root})",
    ]
    if shadowed:
        lines.append("note: READWISE_TOKEN in this shell wins over the token file; unset it")
    steps = [
        (f"readwise-sync sync{named}", "the first sync: your library into the vault"),
        (f"readwise-sync service install{named}", "then keep it in step in the background"),
    ]
    width = max(len(command) for command, _ in steps)
    lines.append("next:")
    lines += [f"  {command.ljust(width)}  # {why}" for command, why in steps]
    return lines


def demo_lines(report: SyncReport, path: Path) -> list[str]:
    """What the demo did and where to look."""
    lines = [report.summary()]
    notes = sorted(report.created + report.updated)
    if notes:
        lines.append(f"Notes in {path.resolve()}:")
        lines += [f"  {note}" for note in notes]
    else:
        lines.append(f"The notes in {path.resolve()} are already up to date.")
    lines.append("Open that folder as a vault in Obsidian, or run `readwise-sync demo` again.")
    return lines
