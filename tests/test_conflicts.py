"""Conflicts you can settle: by the note's own text, or with `readwise-sync resolve`.

A conflict is a highlight (or a frontmatter key) both the user and Readwise changed.
It clears by itself when the user's block says what Readwise has now, or when the
user deletes the block; `resolve` takes Readwise's version or keeps the user's.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path

import pytest

from readwise_sync.app.config import Settings
from readwise_sync.app.locations import state_db_path
from readwise_sync.app.wiring import rerender_all, resolve_conflicts, sync_once
from readwise_sync.engine import resolving
from readwise_sync.errors import NotResolved
from readwise_sync.notes.conflicts import Standing, keep_mine, standing, take_readwise, versions
from readwise_sync.notes.merge import Layout, merge_note
from readwise_sync.readwise.fakeapi import FakeReadwise
from readwise_sync.store.state import State
from readwise_sync.store.vault import Vault

from .conftest import TOKEN, first_sync, run_cli

WALDEN = "Readwise/Books/Walden.md"
FRITTERED = 701000013
WALDEN_ID = 38100452
NEW_TEXT = "Our life is frittered away by detail. (new edition)"

# -- the rules, on text --------------------------------------------------------------------

WROTE = "- The mass of men lead lives of quiet desperation. ([Location 9](https://r/1))"
MINE = "- The mass of men lead lives of *quiet* desperation, I think. ([Location 9](https://r/1))"
THEIRS = "- The mass of men lead lives of quiet desperation, wrote he. ([Location 9](https://r/1))"
OTHER = "- Simplify, simplify. ([Location 12](https://r/2))"


def note(*blocks: str) -> str:
    return "---\nauthor: x\n---\n# Walden\n\n## Highlights\n" + "\n".join(blocks) + "\n"


def last() -> Layout:
    return Layout(frontmatter={"author": "author: x\n"}, blocks={"1": WROTE, "2": OTHER})


def new() -> Layout:
    return Layout(frontmatter={"author": "author: x\n"}, blocks={"1": THEIRS, "2": OTHER})


def test_the_merge_records_a_conflict_the_rules_here_start_from() -> None:
    merged = merge_note(note(MINE, OTHER), last(), new())
    assert [c.block_id for c in merged.conflicts] == ["h:1"]
    assert standing(note(MINE, OTHER), merged.layout, "h:1", THEIRS) is Standing.WAITING


def test_the_three_versions_are_whole_blocks() -> None:
    seen = versions(note(MINE, OTHER), last(), "h:1", THEIRS)
    assert (seen.written, seen.upstream, seen.mine) == (WROTE, THEIRS, MINE)


def test_a_note_that_now_says_what_readwise_has_settles_it_and_the_merge_agrees() -> None:
    text = note(THEIRS, OTHER)
    assert standing(text, last(), "h:1", THEIRS) is Standing.SETTLED
    merged = merge_note(text, last(), new())
    assert merged.conflicts == [] and merged.text == text
    assert merged.layout.blocks["1"] == THEIRS  # a later edit in Readwise replaces it again


def test_a_deleted_block_settles_it() -> None:
    assert standing(note(OTHER), last(), "h:1", THEIRS) is Standing.SETTLED
    assert merge_note(note(OTHER), last(), new()).conflicts == []


def test_keep_mine_counts_readwise_as_seen_until_it_changes_again() -> None:
    kept = keep_mine(last(), "h:1", THEIRS)
    merged = merge_note(note(MINE, OTHER), kept, new())
    assert merged.conflicts == [] and MINE in merged.text
    again = Layout(frontmatter=new().frontmatter, blocks={"1": THEIRS + " Again.", "2": OTHER})
    assert [c.block_id for c in merge_note(merged.text, merged.layout, again).conflicts] == ["h:1"]


def test_take_readwise_replaces_the_users_block_and_nothing_else() -> None:
    text = note(MINE, OTHER) + "\nMy own paragraph.\n"
    taken = take_readwise(text, last(), "h:1", THEIRS)
    assert taken is not None
    merged = merge_note(text, taken, new())
    assert merged.conflicts == []
    assert merged.text == note(THEIRS, OTHER) + "\nMy own paragraph.\n"


def test_take_readwise_of_a_highlight_deleted_in_readwise_removes_the_users_block() -> None:
    gone = Layout(frontmatter=new().frontmatter, blocks={"2": OTHER})
    taken = take_readwise(note(MINE, OTHER), last(), "h:1", "")
    assert taken is not None
    assert merge_note(note(MINE, OTHER), taken, gone).text == note(OTHER)


def test_a_frontmatter_key_both_changed_settles_and_resolves() -> None:
    text = note(WROTE, OTHER).replace("author: x", "author: mine")
    changed = Layout(frontmatter={"author": "author: y\n"}, blocks=last().blocks)
    merged = merge_note(text, last(), changed)
    assert [c.block_id for c in merged.conflicts] == ["fm:author"]
    assert standing(text, merged.layout, "fm:author", "author: y\n") is Standing.WAITING
    assert versions(text, merged.layout, "fm:author", "author: y\n").mine == "author: mine\n"
    taken = take_readwise(text, merged.layout, "fm:author", "author: y\n")
    assert taken is not None
    assert "author: y\n" in merge_note(text, taken, changed).text
    settled = text.replace("author: mine", "author: y")
    assert standing(settled, merged.layout, "fm:author", "author: y\n") is Standing.SETTLED


# -- end to end: a real sync, state and vault ------------------------------------------------


def make_conflict(settings: Settings, fake: FakeReadwise) -> tuple[Path, str]:
    """The user rewords a Walden highlight and Readwise edits it too; the user's line."""
    _, walden = first_sync(settings)
    text = walden.read_text(encoding="utf-8")
    old = next(line for line in text.splitlines() if "frittered away" in line)
    mine = old.replace("Simplify, simplify.", "Simplify, simplify! (I disagree.)")
    walden.write_text(text.replace(old, mine), encoding="utf-8")
    fake.update_highlight(FRITTERED, text=NEW_TEXT)
    assert sync_once(settings).conflicts == [WALDEN]
    return walden, mine


def waiting(settings: Settings) -> list[dict[str, object]]:
    assert settings.vault is not None
    with State.open(state_db_path(settings.state_dir, settings.vault.resolve())) as state:
        return state.load_conflicts()


def readwise_has(settings: Settings) -> str:
    """What Readwise has for the one conflict waiting, as `status --json` shows it."""
    (conflict,) = waiting(settings)
    return str(conflict["upstream"])


def test_replacing_the_block_with_what_status_shows_clears_it_at_the_next_sync(
    settings: Settings, fake: FakeReadwise
) -> None:
    walden, mine = make_conflict(settings, fake)
    upstream, text = readwise_has(settings), walden.read_text(encoding="utf-8")
    start = text.index(mine)
    end = text.index("\n- ", start) if "\n- " in text[start:] else len(text)
    walden.write_text(text[:start] + upstream + text[end:], encoding="utf-8")
    before = walden.read_text(encoding="utf-8")
    report = sync_once(settings)  # nothing changed in Readwise
    assert waiting(settings) == [] and report.conflicts == []
    assert walden.read_text(encoding="utf-8") == before  # nothing of the user's rewritten
    fake.update_highlight(FRITTERED, note="A note added later.")
    later = sync_once(settings)
    assert later.conflicts == [] and "A note added later." in walden.read_text(encoding="utf-8")


def test_deleting_the_block_clears_it(settings: Settings, fake: FakeReadwise) -> None:
    walden, _mine = make_conflict(settings, fake)
    text = walden.read_text(encoding="utf-8")
    kept = [line for line in text.split("\n") if "I disagree" not in line]
    # the block's note lines hang under it, indented: they go with it
    kept = [line for line in kept if "whole book in four words" not in line]
    kept = [line for line in kept if "whole of minimalism" not in line]
    walden.write_text("\n".join(kept), encoding="utf-8")
    rerender_all(settings)
    assert waiting(settings) == []


def test_a_waiting_conflict_costs_a_no_op_sync_no_write(
    settings: Settings, fake: FakeReadwise
) -> None:
    make_conflict(settings, fake)
    fake.clock_offset = timedelta(minutes=30)  # the edit is past the cursor's overlap now
    sync_once(settings)
    assert settings.vault is not None
    db = state_db_path(settings.state_dir, settings.vault.resolve())
    before = db.stat().st_mtime_ns
    time.sleep(0.01)  # a rewrite would show in the mtime
    assert sync_once(settings).books_seen == 0
    assert db.stat().st_mtime_ns == before and len(waiting(settings)) == 1


def test_resolve_take_readwise_puts_readwise_text_in_place_of_the_users(
    settings: Settings, fake: FakeReadwise
) -> None:
    walden, mine = make_conflict(settings, fake)
    walden.write_text(walden.read_text(encoding="utf-8") + "\nMy last word.\n", encoding="utf-8")
    _, settled = resolve_conflicts(settings, WALDEN, take=True)
    text = walden.read_text(encoding="utf-8")
    assert settled == [f"h:{FRITTERED}"]
    assert NEW_TEXT in text and mine not in text and "My last word." in text
    assert waiting(settings) == []
    assert sync_once(settings).conflicts == []


def test_resolve_keep_mine_keeps_the_note_and_only_a_new_readwise_edit_is_news(
    settings: Settings, fake: FakeReadwise
) -> None:
    walden, _mine = make_conflict(settings, fake)
    before = walden.read_text(encoding="utf-8")
    resolve_conflicts(settings, str(walden), take=False)
    assert walden.read_text(encoding="utf-8") == before and waiting(settings) == []
    fake.add_highlight(WALDEN_ID, text="A new highlight elsewhere.", location=9000)
    assert sync_once(settings).conflicts == []
    fake.update_highlight(FRITTERED, text=NEW_TEXT + " And again.")
    assert sync_once(settings).conflicts == [WALDEN]


def test_resolve_says_when_there_is_nothing_to_resolve(
    settings: Settings, fake: FakeReadwise
) -> None:
    first_sync(settings)
    with pytest.raises(NotResolved, match="no conflict waiting"):
        resolve_conflicts(settings, WALDEN, take=True)


def test_status_and_resolve_on_the_command_line(settings: Settings, fake: FakeReadwise) -> None:
    walden, mine = make_conflict(settings, fake)
    long_text = "Our life is frittered away by detail. " * 4 + "The changed words at the end."
    fake.update_highlight(FRITTERED, text=long_text)
    sync_once(settings)
    env = {"READWISE_SYNC_STATE_DIR": str(settings.state_dir), "READWISE_TOKEN": TOKEN}
    vault = str(settings.vault)
    status = run_cli("status", "--vault", vault, env=env)
    assert status.returncode == 0, status.stderr
    assert "conflicts waiting: 1" in status.stdout
    assert "The changed words at the end." in status.stdout  # the whole line, not cut
    assert mine in status.stdout  # what the note has
    assert "frittered away by detail. Simplify, simplify." in status.stdout  # what we wrote
    assert "readwise-sync resolve" in status.stdout
    as_json = json.loads(run_cli("status", "--json", "--vault", vault, env=env).stdout)
    assert mine in as_json["conflicts"][0]["mine"]
    done = run_cli("resolve", WALDEN, "--take-readwise", "--vault", vault, env=env)
    assert done.returncode == 0, done.stderr
    assert "Readwise's" in done.stdout
    assert "The changed words at the end." in walden.read_text(encoding="utf-8")
    again = run_cli("resolve", WALDEN, "--keep-mine", "--vault", vault, env=env)
    assert again.returncode == 2 and "no conflict waiting" in again.stderr
    status = run_cli("status", "--vault", vault, env=env)
    assert "conflicts waiting: 0" in status.stdout


# -- what a hostile read of resolve found ---------------------------------------------------

FIRST = "- Our life is frittered away by detail. Simplify, simplify. ([Location 1](https://r/1))"
SECOND = (
    "- Our life is frittered away by detail. Simplify, simplify, simplify."
    " ([Location 2](https://r/2))"
)


def test_take_readwise_never_replaces_the_users_edit_of_another_highlight() -> None:
    # Two overlapping highlights (common: the same passage highlighted twice), both
    # edited by the user; Readwise changes the first. The user's version of the first is
    # the bullet with the first's link, but the one chosen is the second highlight's.
    mine_first = "- Our life is frittered away, sadly. ([Location 1](https://r/1))"
    mine_second = SECOND.replace("by detail.", "by **detail**.")
    upstream = "- Our life is frittered away by detail. Simplify! ([Location 1](https://r/1))"
    last = Layout(frontmatter={"author": "author: x\n"}, blocks={"1": FIRST, "2": SECOND})
    new = Layout(frontmatter={"author": "author: x\n"}, blocks={"1": upstream, "2": SECOND})
    text = note(mine_first, mine_second)
    merged = merge_note(text, last, new)
    assert [c.block_id for c in merged.conflicts] == ["h:1"]
    taken = take_readwise(text, merged.layout, "h:1", upstream)
    result = merge_note(text, taken, new).text if taken is not None else text
    assert mine_second in result  # the user's edit of highlight 2 is not theirs to lose


def test_take_readwise_refuses_to_drop_a_line_the_user_added_under_the_highlight(
    settings: Settings, fake: FakeReadwise
) -> None:
    walden, mine = make_conflict(settings, fake)
    comment = "    - My own thought: this is why I quit the group chat."
    text = walden.read_text(encoding="utf-8")
    walden.write_text(text.replace(mine, mine + "\n" + comment), encoding="utf-8")
    before = walden.read_text(encoding="utf-8")
    with pytest.raises(NotResolved, match="lines of your own"):
        resolve_conflicts(settings, WALDEN, take=True)  # Readwise's block would drop them
    assert walden.read_text(encoding="utf-8") == before and len(waiting(settings)) == 1


def test_keep_mine_on_a_property_holds_past_the_next_change_to_the_book(
    settings: Settings, fake: FakeReadwise
) -> None:
    _, walden = first_sync(settings)
    text = walden.read_text(encoding="utf-8")
    title = next(line for line in text.splitlines() if line.startswith("title:"))
    walden.write_text(text.replace(title, 'title: "Walden (my title)"'), encoding="utf-8")
    fake.update_book(WALDEN_ID, title="Walden; or, Life in the Woods")
    fake.update_highlight(FRITTERED, note="bumps the book")
    assert sync_once(settings).conflicts == [WALDEN]
    assert [c["block_id"] for c in waiting(settings)] == ["fm:title"]
    resolve_conflicts(settings, WALDEN, take=False)
    assert waiting(settings) == []
    fake.add_highlight(WALDEN_ID, text="A new highlight elsewhere.", location=9000)
    report = sync_once(settings)
    assert report.conflicts == [] and waiting(settings) == []  # Readwise's title was seen


def test_resolve_finds_a_note_the_user_moved_since(settings: Settings, fake: FakeReadwise) -> None:
    walden, _mine = make_conflict(settings, fake)
    assert settings.vault is not None
    moved = settings.vault / "Reading" / "Walden.md"
    moved.parent.mkdir()
    walden.rename(moved)
    resolve_conflicts(settings, "Reading/Walden.md", take=True)
    assert NEW_TEXT in moved.read_text(encoding="utf-8")


def test_a_conflict_in_a_deleted_note_can_be_dismissed(
    settings: Settings, fake: FakeReadwise
) -> None:
    walden, _mine = make_conflict(settings, fake)
    walden.unlink()  # the user deletes the note: the block, and its conflict, are gone
    sync_once(settings)
    if waiting(settings):
        resolve_conflicts(settings, WALDEN, take=False)  # at least keep-mine dismisses it
    assert waiting(settings) == []


def test_resolve_does_not_say_settled_when_it_wrote_nothing(
    settings: Settings, fake: FakeReadwise
) -> None:
    walden, mine = make_conflict(settings, fake)
    walden.chmod(0o444)
    env = {"READWISE_SYNC_STATE_DIR": str(settings.state_dir), "READWISE_TOKEN": TOKEN}
    done = run_cli("resolve", WALDEN, "--take-readwise", "--vault", str(settings.vault), env=env)
    walden.chmod(0o644)
    assert mine in walden.read_text(encoding="utf-8")
    assert done.returncode == 2 and "is read-only" in done.stderr
    assert "put in the note" not in done.stdout, done.stdout
    assert len(waiting(settings)) == 1  # nothing recorded either


def test_a_quoted_copy_elsewhere_does_not_settle_the_users_edited_block(
    settings: Settings, fake: FakeReadwise
) -> None:
    walden, mine = make_conflict(settings, fake)
    upstream, text = readwise_has(settings), walden.read_text(encoding="utf-8")
    # The user keeps their reworded bullet and pastes Readwise's text (from status) into
    # a section of their own, to compare.
    walden.write_text(text + "\n## Compare\n" + upstream + "\n", encoding="utf-8")
    sync_once(settings)
    fake.update_highlight(FRITTERED, text=NEW_TEXT + " And a third edition.")
    sync_once(settings)
    assert mine in walden.read_text(encoding="utf-8")
    assert [c["block_id"] for c in waiting(settings)] == [f"h:{FRITTERED}"]


def test_a_moved_note_with_a_conflict_is_followed_once_and_the_conflict_waits_there(
    settings: Settings, fake: FakeReadwise
) -> None:
    walden, mine = make_conflict(settings, fake)
    assert settings.vault is not None
    moved = settings.vault / "Reading" / "Walden.md"
    moved.parent.mkdir()
    walden.rename(moved)
    sync_once(settings)  # nothing changed in Readwise: only the move is news
    with State.open(state_db_path(settings.state_dir, settings.vault.resolve())) as state:
        assert state.load_paths()[str(WALDEN_ID)][0] == "Reading/Walden.md"
    (conflict,) = waiting(settings)
    assert conflict["path"] == "Reading/Walden.md" and mine in moved.read_text(encoding="utf-8")


def test_a_resolve_whose_write_never_happens_changes_nothing(
    settings: Settings, fake: FakeReadwise
) -> None:
    """Stopped or failed between the choice and the write: the next sync must not carry
    the choice out, since the user was told it failed."""
    walden, mine = make_conflict(settings, fake)
    assert settings.vault is not None
    root = settings.vault.resolve()
    with State.open(state_db_path(settings.state_dir, root)) as state:
        resolving.choose(state, Vault(root), WALDEN, take=True)  # and no merge after it
    sync_once(settings)  # nothing changed in Readwise
    assert mine in walden.read_text(encoding="utf-8") and len(waiting(settings)) == 1


def test_status_calls_settled_only_what_the_next_sync_clears(
    settings: Settings, fake: FakeReadwise
) -> None:
    """A bullet the user turned into a `*` item is still their version of the block."""
    walden, mine = make_conflict(settings, fake)
    walden.write_text(
        walden.read_text(encoding="utf-8").replace(mine, "* " + mine[2:]), encoding="utf-8"
    )
    assert settings.vault is not None
    root = settings.vault.resolve()
    with State.open(state_db_path(settings.state_dir, root)) as state:
        (item,) = resolving.waiting(state, Vault(root))
    assert item.standing is Standing.WAITING
    sync_once(settings)
    assert len(waiting(settings)) == 1


def test_a_rerender_also_forgets_the_conflicts_of_a_deleted_note(
    settings: Settings, fake: FakeReadwise
) -> None:
    """The README: the next sync, or rerender, clears a conflict the note settled."""
    walden, _mine = make_conflict(settings, fake)
    walden.unlink()
    rerender_all(settings)
    assert waiting(settings) == []


def test_resolve_on_a_missing_vault_is_exit_2_like_every_command(
    settings: Settings, tmp_path: Path
) -> None:
    env = {"READWISE_SYNC_STATE_DIR": str(settings.state_dir), "READWISE_TOKEN": TOKEN}
    done = run_cli("resolve", WALDEN, "--keep-mine", "--vault", str(tmp_path / "gone"), env=env)
    assert done.returncode == 2 and "does not exist" in done.stderr
