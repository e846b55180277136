"""Tests for readwise_sync.notes.naming: the issue's examples, then properties over odd titles."""

from __future__ import annotations

import unicodedata
from pathlib import PurePosixPath

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from readwise_sync.notes.naming import (
    CATEGORY_FOLDERS,
    FORBIDDEN_RE,
    FORMAT_RE,
    category_folder,
    is_forbidden,
    name_key,
    note_relpath,
    safe_name,
)

FORBIDDEN = set('/\\:*?"<>|#^[]')
BIDI = set("\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
RESERVED = {"CON", "PRN", "AUX", "NUL"} | {
    f"{dev}{d}" for dev in ("COM", "LPT") for d in "0123456789¹²³"
}
FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467"  # man ZWJ woman ZWJ girl
FLAG = "\U0001f3f3\ufe0f\u200d\U0001f308"  # rainbow flag: white flag, VS16, ZWJ, rainbow


def never_taken(key: str) -> bool:
    return False


# --- examples ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("Walden", "Walden.md"),
        ("../../etc/passwd", "etc passwd.md"),
        ("CON", "CON_.md"),
        ("con", "con_.md"),
        ("COM¹", "COM¹_.md"),
        ("LPT0", "LPT0_.md"),
        ("nul.txt notes", "nul_.txt notes.md"),
        ("CONSOLE", "CONSOLE.md"),
        ("a/b:c?", "a b c.md"),
        ('"quoted"', "quoted.md"),
        ("Chapter #1 ^ref [[x]] | y", "Chapter 1 ref x y.md"),
        ("  tabs\tand\nnewlines\x00  ", "tabs and newlines.md"),
        ("...hidden...", "hidden.md"),
        ("evil\u202egpj.exe", "evilgpj.exe.md"),
        ("Wal\u200bden", "Walden.md"),
        ("\ufeffBOM first", "BOM first.md"),
        ("Ex\u00adam\u00adple", "Example.md"),
        ("word \u2060\u200c joiners \u200d here", "word joiners here.md"),
        ("\u200b \u200b", "Untitled.md"),
        ("non\u00a0breaking", "non breaking.md"),
        ("%% not a comment %%", "%% not a comment %%.md"),
        ("---", "---.md"),
        ("Café 漢字", "Café 漢字.md"),
    ],
)
def test_safe_name_examples(title: str, expected: str) -> None:
    assert safe_name(title) == expected


@pytest.mark.parametrize("title", ["", "   ", "...", '/\\:*?"<>|#^[]', ". / . \x00 \u202e"])
def test_only_forbidden_is_untitled(title: str) -> None:
    assert safe_name(title) == "Untitled.md"


def test_long_accented_title_cut_on_characters() -> None:
    name = safe_name("é" * 300)
    raw = name.encode("utf-8")
    assert len(raw) <= 200
    assert raw.decode("utf-8") == name
    stem = name.removesuffix(".md")
    assert stem == "é" * len(stem)
    assert len(stem) == 98  # (200 - 3) // 2


def test_cut_keeps_base_with_its_combining_mark() -> None:
    # "q" + acute has no precomposed form, so NFC keeps two code points per letter.
    stem = safe_name("q\u0301" * 100).removesuffix(".md")
    assert stem == "q\u0301" * (len(stem) // 2)


def test_cut_exposing_trailing_dot_or_space_is_restripped() -> None:
    name = safe_name("a" * 196 + " . bcd")
    assert name == "a" * 196 + ".md"


def test_suffix_and_ext_fit_in_budget() -> None:
    name = safe_name("x" * 500, suffix=" (12345)")
    assert name.endswith(" (12345).md")
    assert len(name.encode("utf-8")) == 200


def test_nfd_and_nfc_titles_give_same_name_and_key() -> None:
    nfd, nfc = "Re\u0301sume\u0301", "R\u00e9sum\u00e9"
    assert safe_name(nfd) == safe_name(nfc) == "Résumé.md"
    assert name_key("Books/" + nfd + ".md") == name_key("Books/" + nfc + ".md")


def test_emoji_zwj_sequence_kept() -> None:
    assert safe_name(f"Family {FAMILY} time") == f"Family {FAMILY} time.md"


def test_bad_arguments_rejected() -> None:
    with pytest.raises(ValueError):
        safe_name("x", max_bytes=5)
    with pytest.raises(ValueError):
        safe_name("x", suffix="/..")


def test_category_folder() -> None:
    for key, folder in CATEGORY_FOLDERS.items():
        assert category_folder(key) == folder
    assert category_folder("BOOKS") == "Books"
    assert category_folder(None) == "Books"
    assert category_folder("") == "Books"
    assert category_folder("rss feed") == "Rss Feed"
    assert category_folder("../con") == "Con_"


def test_note_relpath_basic_and_nested_folder() -> None:
    assert note_relpath("Readwise", "books", "Walden", book_id=1, is_taken=never_taken) == (
        "Readwise/Books/Walden.md"
    )
    assert note_relpath("Read wise/Sub", "articles", "X", book_id=1, is_taken=never_taken) == (
        "Read wise/Sub/Articles/X.md"
    )
    assert note_relpath("", None, "X", book_id=1, is_taken=never_taken) == "Books/X.md"
    assert note_relpath("/../a//b/", "email", "X", book_id=1, is_taken=never_taken) == (
        "a/b/Email/X.md"
    )


def test_case_collision_gets_stable_book_id_suffix() -> None:
    taken: set[str] = set()

    def place(title: str, book_id: int) -> str:
        path = note_relpath(
            "Readwise", "books", title, book_id=book_id, is_taken=taken.__contains__
        )
        taken.add(name_key(path))
        return path

    first = place("Notes", 1)
    second = place("notes", 42)
    assert first == "Readwise/Books/Notes.md"
    assert second == "Readwise/Books/notes (42).md"
    assert name_key(first) != name_key(second)
    # Stable: asked again while the others hold their names, book 42 gets the same path.
    taken.discard(name_key(second))
    assert place("notes", 42) == second


def test_pathological_collisions_count_up() -> None:
    taken = {name_key(p) for p in ("Books/A.md", "Books/A (7).md", "Books/a (7-2).md")}
    assert note_relpath("", "books", "A", book_id=7, is_taken=taken.__contains__) == (
        "Books/A (7-3).md"
    )


def test_always_taken_gives_up() -> None:
    with pytest.raises(RuntimeError):
        note_relpath("", "books", "A", book_id=7, is_taken=lambda key: True)


# --- properties --------------------------------------------------------------------------

NASTY = [
    *sorted(FORBIDDEN | BIDI),
    "CON", "con", "Nul", "COM¹", "LPT9", "AUX.", "PRN ",
    ".", "..", " ", "\x00", "\t", "\n", "\x7f", "\x85", "\ud800", "\u00a0", "\u3000",
    "\u0301", "e\u0301", "q\u0301\u0323", "\u200d", "\ufe0f", FAMILY, "\U0001f44d\U0001f3fd",
    "\u200b", "\u200c", "\u2060", "\ufeff", "\u00ad", "\u0600", "\U000e0041", FLAG, "❤\ufe0f",
    "---", "%%", "[[", "]]", "é", "漢", "\U0001f600", "ß", "İ",
]  # fmt: skip

pieces = st.one_of(st.text(max_size=12), st.sampled_from(NASTY))
titles = st.one_of(
    st.lists(pieces, max_size=25).map("".join),
    # Long runs to exercise the byte budget and the cut.
    st.builds(lambda p, n: p * n, st.sampled_from([*NASTY, "ab "]), st.integers(0, 120)),
    st.builds(lambda p, n, t: p + "x" * n + t, pieces, st.integers(150, 200), pieces),
)


def assert_safe_component(name: str, ext: str) -> None:
    assert name.endswith(ext)
    stem = name[: len(name) - len(ext)]
    assert stem
    assert len(name.encode("utf-8")) <= 200
    assert not FORBIDDEN & set(name)
    assert not BIDI & set(name)
    assert not any(unicodedata.category(c) in ("Cc", "Cs") for c in name)
    # Format characters go; a ZWJ is only kept inside an emoji sequence.
    assert all(c == "\u200d" for c in name if unicodedata.category(c) == "Cf")
    assert not name.startswith("\u200d") and "\u200d." not in name + "."
    assert not name.startswith((".", " "))
    assert not stem.endswith((".", " "))
    assert name.split(".", 1)[0].strip().upper() not in RESERVED


@settings(max_examples=500, deadline=None)
@given(titles)
def test_safe_name_properties(title: str) -> None:
    name = safe_name(title)
    assert_safe_component(name, ".md")
    assert safe_name(title) == name
    assert safe_name(name.removesuffix(".md")) == name
    assert unicodedata.normalize("NFC", name) == name


@settings(max_examples=500, deadline=None)
@given(titles, st.integers(0, 10**12))
def test_safe_name_with_suffix_and_folder_ext(title: str, book_id: int) -> None:
    suffix = f" ({book_id})"
    assert_safe_component(safe_name(title, suffix=suffix), f"{suffix}.md")
    folder = safe_name(title, ext="")
    assert_safe_component(folder, "")
    assert safe_name(folder, ext="") == folder


@settings(max_examples=500, deadline=None)
@given(
    st.lists(titles, max_size=4).map("/".join),
    st.one_of(st.none(), st.sampled_from(sorted(CATEGORY_FOLDERS)), titles),
    titles,
    st.integers(1, 10**9),
    st.booleans(),
)
def test_note_relpath_properties(
    folder: str, category: str | None, title: str, book_id: int, clash: bool
) -> None:
    plain = note_relpath(folder, category, title, book_id=book_id, is_taken=never_taken)
    taken = {name_key(plain)} if clash else set()
    path = note_relpath(folder, category, title, book_id=book_id, is_taken=taken.__contains__)
    assert path == note_relpath(
        folder, category, title, book_id=book_id, is_taken=taken.__contains__
    )
    assert (path != plain) == clash
    assert "\\" not in path
    parts = PurePosixPath(path).parts
    assert not PurePosixPath(path).is_absolute()
    assert ".." not in parts
    assert "/".join(parts) == path  # no empty or "." components
    assert_safe_component(parts[-1], ".md")
    for part in parts[:-1]:
        assert_safe_component(part, "")
    if clash:
        assert parts[-1].endswith(f" ({book_id}).md")


def test_forbidden_pattern_is_the_forbidden_rule() -> None:
    """_clean replaces characters by one pattern; it must be exactly is_forbidden's set."""
    differ = [
        hex(code)
        for code in range(0x110000)
        if is_forbidden(chr(code)) != bool(FORBIDDEN_RE.fullmatch(chr(code)))
    ]
    assert differ == []


def test_format_pattern_is_category_cf() -> None:
    """_clean removes format characters by one pattern; it must be exactly Unicode's Cf."""
    differ = [
        hex(code)
        for code in range(0x110000)
        if (unicodedata.category(chr(code)) == "Cf") != bool(FORMAT_RE.fullmatch(chr(code)))
    ]
    assert differ == []


FORMAT_CHARS = [chr(c) for c in range(0x110000) if unicodedata.category(chr(c)) == "Cf"]


def test_every_format_character_leaves_the_name() -> None:
    kept = {c for c in FORMAT_CHARS if safe_name(f"a{c}b") != "ab.md"}
    assert kept == set()
    assert {safe_name(f"{c}x{c}") for c in FORMAT_CHARS} == {"x.md"}


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        (FAMILY, FAMILY),
        (FLAG, FLAG),
        ("\u2764\ufe0f\u200d\U0001f525 hot", "\u2764\ufe0f\u200d\U0001f525 hot"),  # heart on fire
        ("\U0001f408\u200d\u2b1b cat", "\U0001f408\u200d\u2b1b cat"),  # black cat
        ("a\u200d\U0001f469", "a\U0001f469"),  # a ZWJ after a letter joins nothing
        ("\U0001f469\u200d", "\U0001f469"),
        ("\U0001f469\u200d\u200b\U0001f469", "\U0001f469\U0001f469"),
        ("\U0001f469\u200b\u200d\U0001f469", "\U0001f469\U0001f469"),
    ],
)
def test_zwj_is_kept_inside_an_emoji_sequence_only(title: str, expected: str) -> None:
    assert safe_name(title) == expected + ".md"
    assert safe_name(expected) == expected + ".md"
