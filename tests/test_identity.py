"""Whose note is this: the pure judge of :mod:`readwise_sync.notes.identity`, rule by rule
and over many evidences, and the engine's side (:class:`Owners`), which gathers the
evidence, searches the vault once and writes what the search freed."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from readwise_sync.engine.owners import Owners
from readwise_sync.notes import naming
from readwise_sync.notes.identity import (
    Authorship,
    Evidence,
    Library,
    NeedsLibrary,
    NeedsSearch,
    NotOurs,
    Ours,
    Unknown,
    Verdict,
    judge,
)
from readwise_sync.notes.merge import Layout
from readwise_sync.store.durable import text_hash
from readwise_sync.store.state import State
from readwise_sync.store.vault import Vault

ME, EDITION, OTHER = "1", "2", "3"
HERE = "Readwise/Books/Walden.md"

BLOCK = "- Simplify, simplify."
PREAMBLE = "## Metadata\n- Author: [[Thoreau]]\n- Full Title: Walden\n"
TITLE = "title: Walden"
SHARED_PREAMBLE = "## Metadata\n- Author: [[Thoreau]]\n- Full Title: Walden (2nd ed.)\n"
SHARED_TITLE = "title: Second Walden"
EDITION_BLOCK = "- Another edition's words."
OTHER_BLOCK = "- Heaven is under our feet."
OTHER_PREAMBLE = "## Metadata\n- Author: [[Emerson]]\n- Full Title: Nature\n"
OTHER_TITLE = "title: Nature"
FILLER = "My own thoughts, nobody's blocks."


def layout(title: str = TITLE, preamble: str = PREAMBLE, *blocks: str) -> Layout:
    return Layout(
        frontmatter={"title": title} if title else {},
        sections={"preamble": preamble} if preamble else {},
        blocks={str(n): block for n, block in enumerate(blocks, start=10)},
    )


# What the tool wrote for each book: mine has a title and metadata of its own; the
# edition's share them with the second of my layouts (the pending one, say); the other
# book's are its own.
MINE = layout(TITLE, PREAMBLE, BLOCK)
LAYOUTS = {
    ME: MINE,
    EDITION: layout(SHARED_TITLE, SHARED_PREAMBLE, EDITION_BLOCK),
    OTHER: layout(OTHER_TITLE, OTHER_PREAMBLE, OTHER_BLOCK),
}
AUTHORSHIP = Authorship.of([*LAYOUTS.items(), (ME, layout(SHARED_TITLE, SHARED_PREAMBLE))])
MY_LAYOUTS = (MINE, layout(SHARED_TITLE, SHARED_PREAMBLE))


def note(*pieces: str) -> str:
    """A note holding these pieces: the frontmatter lines first, the rest in the body."""
    head = [piece for piece in pieces if piece.startswith("title:")]
    body = [piece.rstrip("\n") for piece in pieces if not piece.startswith("title:")]
    return "---\n" + "".join(f"{line}\n" for line in head) + "---\n" + "\n".join(body) + "\n"


def evidence(
    text: str,
    *,
    written: tuple[str | None, ...] = ("old", None),
    hash_owners: frozenset[int] = frozenset(),
    layouts: tuple[Layout, ...] = MY_LAYOUTS,
    lost: frozenset[int] = frozenset(),
    released: bool = False,
    found: Mapping[int, str] | None = None,
    library: bool = True,
    same_file: bool = False,
) -> Evidence:
    return Evidence(
        book_id=ME,
        path=HERE,
        text=text,
        digest=text_hash(text),
        written=written,
        released=released,
        library=Library(hash_owners, layouts, AUTHORSHIP, lost) if library else None,
        found=found,
        same_file=same_file,
    )


# -- the rules, one by one --------------------------------------------------------------------

EXACT = note(TITLE, "just this")

RULES: dict[str, tuple[Evidence, Verdict]] = {
    "our exact text, even with another book's": (
        evidence(EXACT, written=(text_hash(EXACT), None), hash_owners=frozenset({OTHER})),
        Ours("our exact text"),
    ),
    "the text we were about to write": (
        evidence(EXACT, written=(None, text_hash(EXACT)), library=False),
        Ours("our exact text"),
    ),
    "anything more asks for the library": (evidence(EXACT, library=False), NeedsLibrary()),
    "another book's exact text": (
        evidence(note(BLOCK), hash_owners=frozenset({OTHER})),
        NotOurs("another book's exact text"),
    ),
    "a record from before layouts trusts its path": (
        evidence(note(OTHER_BLOCK), layouts=()),
        Ours("a record from before layouts were kept can't tell: the path says so"),
    ),
    "a block we wrote, beside another book's": (
        evidence(note(OTHER_BLOCK, BLOCK)),
        Ours("a block the tool wrote here"),
    ),
    "a block we wrote, in a note with Windows line ends": (
        evidence(note(FILLER, BLOCK).replace("\n", "\r\n")),
        Ours("a block the tool wrote here"),
    ),
    "our own metadata section": (evidence(note(PREAMBLE)), Ours("its own metadata section")),
    "another book's blocks, whatever title it has": (
        evidence(note(TITLE, OTHER_BLOCK)),
        NotOurs("another book's blocks"),
    ),
    "our own title property": (evidence(note(TITLE, FILLER)), Ours("its own title property")),
    "nothing for it at a path let go of": (
        evidence(note(FILLER), released=True),
        NotOurs("nothing for it, at a path it let go of"),
    ),
    "shared metadata proves nothing at a path let go of": (
        evidence(note(SHARED_TITLE, SHARED_PREAMBLE), released=True, lost=frozenset({EDITION})),
        NotOurs("nothing for it, at a path it let go of"),
    ),
    "the very file we wrote, emptied, at our path": (
        evidence(note(FILLER), same_file=True),
        Ours("the very file the tool wrote here"),
    ),
    "the very file we wrote, moved back emptied onto a path let go of": (
        evidence(note(SHARED_TITLE, SHARED_PREAMBLE), released=True, same_file=True),
        Ours("the very file the tool wrote here"),
    ),
    "the same file at a path let go of, holding nothing of ours": (
        evidence(note(FILLER), released=True, same_file=True),
        NotOurs("nothing for it, at a path it let go of"),
    ),
    "another book's own metadata section": (
        evidence(note(OTHER_PREAMBLE)),
        NotOurs("another book's own metadata section or title"),
    ),
    "another book's own title property": (
        evidence(note(OTHER_TITLE, FILLER)),
        NotOurs("another book's own metadata section or title"),
    ),
    "nothing either way": (evidence(note(FILLER)), Unknown()),
    "what we share, with no edition that lost its note": (
        evidence(note(SHARED_TITLE, SHARED_PREAMBLE)),
        Unknown(),
    ),
    "a lost book we share nothing with is no doubt": (
        evidence(note(FILLER), lost=frozenset({OTHER})),
        Unknown(),
    ),
    "what we share, with an edition that lost its note: search": (
        evidence(note(SHARED_PREAMBLE), lost=frozenset({EDITION, OTHER})),
        NeedsSearch(frozenset({EDITION})),
    ),
    "the edition's note found nowhere: it may be this one": (
        evidence(note(SHARED_PREAMBLE), lost=frozenset({EDITION}), found={}),
        NotOurs("an edition that lost its note may have moved it here"),
    ),
    "the edition's note found here": (
        evidence(note(SHARED_PREAMBLE), lost=frozenset({EDITION}), found={EDITION: HERE}),
        NotOurs("an edition that lost its note may have moved it here"),
    ),
    "the edition's note found elsewhere": (
        evidence(note(SHARED_PREAMBLE), lost=frozenset({EDITION}), found={EDITION: "In/W.md"}),
        Unknown(),
    ),
}


@pytest.mark.parametrize("case", list(RULES))
def test_each_rule(case: str) -> None:
    given_evidence, expected = RULES[case]
    assert judge(given_evidence) == expected


def test_the_authorship_of_the_library() -> None:
    assert AUTHORSHIP.owners_of(note(TITLE, BLOCK, OTHER_BLOCK)) == {ME, OTHER}
    assert AUTHORSHIP.sharing(ME, MY_LAYOUTS) == {EDITION}
    assert AUTHORSHIP.sharing(OTHER, [LAYOUTS[OTHER]]) == set()
    assert AUTHORSHIP.others_in(note(SHARED_TITLE), ME) is True
    assert AUTHORSHIP.others_in(note(SHARED_TITLE), ME, sharing={EDITION}) is False
    assert AUTHORSHIP.written_for_another(note(OTHER_BLOCK), ME) is True
    assert AUTHORSHIP.written_for_another(note(TITLE, BLOCK), ME) is False


# -- over many evidences ----------------------------------------------------------------------

PIECES = [
    BLOCK,
    PREAMBLE,
    TITLE,
    SHARED_PREAMBLE,
    SHARED_TITLE,
    OTHER_BLOCK,
    OTHER_PREAMBLE,
    OTHER_TITLE,
    FILLER,
]
BOOKS = st.frozensets(st.sampled_from([ME, EDITION, OTHER]))
PLACES = st.sampled_from([HERE, "Inbox/Walden.md"])


@st.composite
def evidences(draw: st.DrawFn) -> Evidence:
    text = note(*draw(st.lists(st.sampled_from(PIECES), max_size=5)))
    if draw(st.booleans()):
        text = text.replace("\n", "\r\n")
    digest = text_hash(text)
    written = draw(st.sampled_from([("old", None), (digest, None), (None, digest)]))
    layouts = draw(st.sampled_from([MY_LAYOUTS, (MINE,), (), (layout(SHARED_TITLE, ""),)]))
    library = Library(draw(BOOKS), layouts, AUTHORSHIP, draw(BOOKS))
    found = draw(st.none() | st.dictionaries(st.sampled_from([ME, EDITION, OTHER]), PLACES))
    return Evidence(
        book_id=ME,
        path=HERE,
        text=text,
        digest=digest,
        written=written,
        released=draw(st.booleans()),
        library=draw(st.none() | st.just(library)),
        found=found,
    )


@given(evidences())
def test_the_judge_asks_only_for_what_it_lacks(given_evidence: Evidence) -> None:
    verdict = judge(given_evidence)
    if isinstance(verdict, NeedsLibrary):
        assert given_evidence.library is None
    if isinstance(verdict, NeedsSearch):
        assert given_evidence.found is None and given_evidence.library is not None
        assert verdict.editions <= given_evidence.library.lost
        assert not given_evidence.released
    if given_evidence.released:  # at a path let go of, nothing either way means no
        assert not isinstance(verdict, Unknown)
    if given_evidence.library is None:
        assert isinstance(verdict, Ours | NeedsLibrary)


@given(evidences())
def test_more_evidence_changes_only_the_verdicts_that_asked_for_it(
    given_evidence: Evidence,
) -> None:
    library = Library(frozenset(), MY_LAYOUTS, AUTHORSHIP, frozenset({EDITION}))
    bare = replace(given_evidence, library=None, found=None)
    full = replace(given_evidence, library=given_evidence.library or library, found={})
    before, after = judge(bare), judge(full)
    assert isinstance(after, Ours | NotOurs | Unknown)  # with everything, a settled verdict
    if not isinstance(before, NeedsLibrary):
        assert after == before
    searched = judge(replace(full, found=None))
    if not isinstance(searched, NeedsSearch):
        assert searched == after


@given(evidences())
def test_our_exact_text_is_ours_and_line_ends_change_nothing_else(
    given_evidence: Evidence,
) -> None:
    verdict = judge(given_evidence)
    if given_evidence.digest in given_evidence.written:
        assert verdict == Ours("our exact text")
    else:
        other_ends = given_evidence.text.replace("\r\n", "\n").replace("\n", "\r\n")
        assert judge(replace(given_evidence, text=other_ends)) == verdict


# -- the engine's side: evidence from the state and the vault, one search ---------------------


class CountingVault(Vault):
    """A vault that counts how often the whole of it is read."""

    listings = 0

    def iter_notes(self) -> Iterator[str]:
        self.listings += 1
        return super().iter_notes()


def record(state: State, vault: Vault, book_id: int, path: str, text: str, done: Layout) -> None:
    """A note the tool wrote at ``path`` for ``book_id``, as the state records it."""
    target = vault.path_of(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    digest = text_hash(text)
    state.save_pending(book_id, path, naming.name_key(path), digest, digest, done.to_json())
    state.save_written(book_id, {"user_book_id": book_id, "title": "Walden"})


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[State, CountingVault]]:
    (tmp_path / "vault").mkdir()
    with State.open(tmp_path / "state.db") as state:
        yield state, CountingVault(tmp_path / "vault")


EDITION_NOTE = note(SHARED_TITLE, SHARED_PREAMBLE, EDITION_BLOCK)


def two_editions(state: State, vault: Vault) -> str:
    """My note, emptied of its blocks (only the metadata we share is left), at its path;
    the edition's note gone from its own. Returns my note's text."""
    record(state, vault, EDITION, "Readwise/Books/Walden (2).md", EDITION_NOTE, LAYOUTS[EDITION])
    mine = layout(SHARED_TITLE, SHARED_PREAMBLE, BLOCK)
    record(state, vault, ME, HERE, note(SHARED_PREAMBLE, BLOCK), mine)
    vault.path_of("Readwise/Books/Walden (2).md").unlink()
    emptied = note(SHARED_PREAMBLE, FILLER)
    vault.path_of(HERE).write_text(emptied, encoding="utf-8")
    return emptied


def test_a_moved_note_is_found_once_and_its_path_freed(
    setup: tuple[State, CountingVault],
) -> None:
    state, vault = setup
    text = note(TITLE, BLOCK)
    record(state, vault, ME, HERE, text, MINE)
    vault.path_of(HERE).rename(vault.path_of("Walden moved.md"))
    owners = Owners(vault, state)
    search = owners.search()
    assert search.moved == {ME: "Walden moved.md"} and search.freed == (ME,)
    assert owners.moved == search.moved
    assert state.path_holder(naming.name_key(HERE)) is None, "the moved note's path kept"
    assert owners.search() is search and owners.index() is search.index
    assert vault.listings == 1, "the vault was searched more than once"


def test_a_dry_run_search_writes_nothing(setup: tuple[State, CountingVault]) -> None:
    state, vault = setup
    record(state, vault, ME, HERE, note(TITLE, BLOCK), MINE)
    vault.path_of(HERE).rename(vault.path_of("Walden moved.md"))
    search = Owners(vault, state, dry_run=True).search()
    assert search.moved == {ME: "Walden moved.md"} and search.freed == (ME,)
    assert state.path_holder(naming.name_key(HERE)) == ME


def test_a_note_with_nothing_either_way_keeps_its_path(
    setup: tuple[State, CountingVault],
) -> None:
    state, vault = setup
    record(state, vault, ME, HERE, note(TITLE, BLOCK), MINE)
    vault.path_of(HERE).write_text(note(FILLER), encoding="utf-8")
    owners = Owners(vault, state)
    assert owners.judge(state.load_notes([ME])[ME], note(FILLER)) is None
    assert vault.listings == 0, "no doubt, yet the vault was searched"
    assert owners.search().freed == () and HERE not in owners.index().entries


def test_a_doubt_is_settled_by_the_one_search(setup: tuple[State, CountingVault]) -> None:
    """The edition's note is gone and found nowhere: mine, at my path, may be it. The
    judge asks for the search; the search, judging every note at its path, meets the same
    doubt and settles it with what it found, without asking again."""
    state, vault = setup
    emptied = two_editions(state, vault)
    owners = Owners(vault, state)
    assert owners.verdict(state.load_notes([ME])[ME], emptied) == NotOurs(
        "an edition that lost its note may have moved it here"
    )
    assert vault.listings == 1
    assert set(owners.search().freed) == {ME, EDITION}
    assert HERE in owners.index().entries, "the doubtful note is not left for the edition"


def test_a_doubt_cleared_by_the_edition_found_elsewhere(
    setup: tuple[State, CountingVault],
) -> None:
    state, vault = setup
    emptied = two_editions(state, vault)
    vault.path_of("Inbox/Walden 2.md").parent.mkdir()
    vault.path_of("Inbox/Walden 2.md").write_text(EDITION_NOTE, encoding="utf-8")
    owners = Owners(vault, state)
    assert owners.judge(state.load_notes([ME])[ME], emptied) is None
    search = owners.search()
    assert search.moved == {EDITION: "Inbox/Walden 2.md"} and search.freed == (EDITION,)
    assert HERE not in search.index.entries and state.path_holder(naming.name_key(HERE)) == ME
