"""The one rule for "is this piece still in the note?": its degrees, by example and by property."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from readwise_sync.notes.pieces import (
    TELLING,
    PieceIndex,
    block_at,
    block_link,
    bullet_holding,
    bullets,
    clues,
    holds,
    opening,
    remains,
    says,
    settled_by,
    stands,
    word_runs,
    words,
)

URL = "https://read.readwise.io/read/h1"
BLOCK = f"- The mass of men lead lives of quiet desperation. ([Location 1]({URL}))"

# Lines a note is made of: bullets, their indented lines, blank and whitespace-only
# lines, and lines one of which is the start of another, so that pieces often match.
LINES = st.sampled_from(
    ["- a", "- a b", "- a b c", "    - t", "\t- n", "", "  ", "x", "- a x", "## H", "- b"]
)
NOTES = st.lists(LINES, max_size=10).map("\n".join)
PIECES = st.lists(LINES, min_size=1, max_size=3).map("\n".join)


def test_a_block_stands_as_whole_lines_with_nothing_hung_under_it() -> None:
    note = f"intro\n{BLOCK}\nafter\n"
    assert stands(note, BLOCK) == (6, 6 + len(BLOCK))
    assert stands(f"{BLOCK}\n   \nmore", BLOCK) == (0, len(BLOCK))  # spaces only: a blank
    assert stands(f"{BLOCK}\n    - mine", BLOCK) is None  # a sub-bullet: the user's block
    assert stands(f"{BLOCK} and mine", BLOCK) is None
    assert stands(f"x{BLOCK}", BLOCK) is None
    assert stands(note, "") is None


def test_a_taken_span_and_a_start_are_skipped() -> None:
    note = "- a\n- a\n- a"
    assert stands(note, "- a", [(0, 3)]) == (4, 7)
    assert stands(note, "- a", start=5) == (8, 11)
    assert stands(note, "- a", [(0, 3), (4, 7), (8, 11)]) is None


def test_a_block_is_held_whatever_was_added_around_it() -> None:
    assert holds(f"{BLOCK}\n    - mine", BLOCK)
    assert holds(f"see: {BLOCK} (mine)", BLOCK)
    assert not holds(BLOCK.replace("quiet", "*quiet*"), BLOCK)
    assert not holds("anything", "")


def test_clues_are_the_link_then_the_opening_when_long_enough() -> None:
    assert block_link(BLOCK) == URL
    assert opening(BLOCK) == "The mass of men lead lives of quiet desp"
    assert clues(BLOCK) == [URL, "The mass of men lead lives of quiet desp"]
    assert clues("- short ([x](http:/))") == ["short ([x](http:/))"]
    assert clues("- tiny") == []
    assert opening("a paragraph block, not a bullet") == "a paragraph block, not a bullet"


def test_an_edited_block_remains_by_its_link_its_opening_or_most_of_its_words() -> None:
    edited = "- The mass of men lead *lives* of quiet desperation. So says Thoreau."
    assert remains(f"- reworded entirely ([Location 1]({URL}))", BLOCK)
    assert remains("- The mass of men lead lives of quiet desp... (cut)", BLOCK)
    assert remains(edited, BLOCK)  # most runs of words: 7 of 9
    assert not remains(edited.replace("lead", "live"), BLOCK)  # 4 of 9
    assert not remains("- something else altogether, and more words", BLOCK)
    # Words another highlight repeats are no trace of this one.
    other = "- of men lead lives of quiet desperation"
    assert remains(other, "- Most men lead lives of quiet desperation")
    assert not remains(other, "- Most men lead lives of quiet desperation", [other])


def test_settled_when_readwise_text_stands_and_no_edited_form_is_left() -> None:
    upstream = BLOCK.replace("quiet", "silent")
    assert settled_by(f"x\n{upstream}\n", upstream, BLOCK, []) == (2, 2 + len(upstream))
    # The user's own version beside a pasted copy of Readwise's settles nothing.
    mine = BLOCK.replace("quiet", "*quiet*")
    assert settled_by(f"{mine}\n{upstream}\n", upstream, BLOCK, []) is None


def test_a_bullet_is_found_by_a_clue_of_the_block_in_its_first_line() -> None:
    note = f"- other\n- Reworded, but ([Location 1]({URL}))\n    - Note: mine\n"
    span = bullet_holding(note, BLOCK, bullets(note), [])
    assert span is not None and note[span[0] : span[1]] == block_at(note, 8)
    assert note[span[0] : span[1]].endswith("- Note: mine")
    assert bullet_holding(note, BLOCK, bullets(note), [span]) is None


def test_says_and_words_see_past_formatting() -> None:
    assert words("**Bold** [link](u) _x_") == ["bold", "link", "u", "x"]
    assert says("- The **mass** of men", ["the mass of men", ""])
    assert not says("- The mass of men", ["women"])
    assert word_runs("- a b") == {("a", "b")}
    assert word_runs("- a b c d") == {("a", "b", "c"), ("b", "c", "d")}


def test_telling_is_the_least_length_of_a_piece_that_tells_notes_apart() -> None:
    assert TELLING == 12


@settings(max_examples=300, deadline=None)
@given(NOTES, PIECES)
def test_a_piece_standing_is_held_there_as_whole_lines(note: str, piece: str) -> None:
    span = stands(note, piece)
    if span is None:
        return
    start, end = span
    assert note[start:end] == piece and holds(note, piece)
    assert start == 0 or note[start - 1] == "\n"
    assert end == len(note) or note[end] == "\n"
    # An indented line put right under it makes it the user's: it no longer stands there.
    hung = note[:end] + "\n    mine" + note[end:]
    assert stands(hung, piece, start=start) != (start, end)
    assert holds(hung, piece)


def test_the_index_keeps_the_last_owner_of_a_piece_and_tells_pieces_of_one_first_line() -> None:
    index: PieceIndex[str] = PieceIndex()
    for piece, owner in [("- a", "x"), ("- a", "y"), ("- a\n    - t", "z"), ("- a\n  - u", "w")]:
        index.add(piece, owner)
    assert index.owners_in("- a\n") == {"y"}
    assert index.owners_in("- a\n    - t\n- a\n  - u") == {"z", "w"}
    assert index.owners_in("- a b\n") == set()
    assert len(index) == 3 and len(PieceIndex()) == 0  # "- a" kept once, for its last owner


@settings(max_examples=300, deadline=None)
@given(NOTES, st.lists(PIECES, max_size=6, unique=True))
def test_the_index_finds_exactly_the_pieces_that_stand(note: str, pieces: list[str]) -> None:
    index: PieceIndex[int] = PieceIndex()
    for owner, piece in enumerate(pieces):
        index.add(piece, owner)
    expected = {owner for owner, piece in enumerate(pieces) if stands(note, piece)}
    assert index.owners_in(note) == expected


@settings(max_examples=300, deadline=None)
@given(NOTES, PIECES)
def test_a_piece_held_with_a_clue_remains(note: str, piece: str) -> None:
    block = f"- {piece.strip()} long enough to tell"
    text = note + "\n" + block
    assert holds(text, block) and remains(text, block)
