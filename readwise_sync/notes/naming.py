"""File and folder names for notes: Readwise titles in, safe and stable names out.

This module owns every rule about what a note may be called inside the vault:
which characters are removed or replaced, how names are trimmed and shortened, which
Windows device names are avoided, which folder a category goes to, and how two
documents whose names would clash on a case-insensitive file system are told
apart. It is pure: it never touches the file system. Callers say which names
are already taken through `is_taken`, keyed with `name_key`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

CATEGORY_FOLDERS: dict[str, str] = {
    "books": "Books",
    "articles": "Articles",
    "tweets": "Tweets",
    "podcasts": "Podcasts",
    "supplementals": "Supplementals",
}
DEFAULT_CATEGORY_FOLDER = "Books"
UNTITLED = "Untitled"

# Illegal in a file name on Windows; "/" is also illegal on Linux and macOS, ":" on macOS Finder.
_FS_FORBIDDEN = '/\\:*?"<>|'
# Legal on disk but they break [[wikilinks]] and ![[embeds]]: "#" starts a heading link,
# "^" a block reference, "|" an alias, "[" and "]" the link brackets.
_OBSIDIAN_FORBIDDEN = "#^[]|"
_FORBIDDEN = frozenset(_FS_FORBIDDEN + _OBSIDIAN_FORBIDDEN)
# Cc: control characters (NUL, tab, newline...). Cs: lone surrogates, which json.loads
# produces from "\ud800" escapes and which cannot be encoded as UTF-8 at all.
_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cs"})

# Windows refuses these device names as the part before the first dot, whatever the
# extension; it also counts the superscript digits ¹²³ as digits here.
_RESERVED_NAMES = frozenset(
    {"CON", "PRN", "AUX", "NUL"}
    | {f"{dev}{digit}" for dev in ("COM", "LPT") for digit in "0123456789¹²³"}
)

_ZWJ = "\u200d"
# Room for "Untitled" and for the longest reserved name plus "_" ("COM¹_" is 6 bytes),
# so the shortening loop in safe_name always ends.
_MIN_STEM_BYTES = 8
# A guard against an is_taken that answers True for everything.
_MAX_COLLISION_TRIES = 10_000


def is_forbidden(ch: str) -> bool:
    return ch in _FORBIDDEN or unicodedata.category(ch) in _FORBIDDEN_CATEGORIES


def _format_class() -> str:
    """Unicode's format characters (category Cf) as the body of a character class.

    Zero-width spaces and joiners, the word joiner, BOM, soft hyphen, bidi marks,
    embeddings, overrides and isolates (which can make a name display as another,
    "evil\\u202egpj.md"), tags...: invisible, they make two names that look alike differ,
    and links and search miss them. They all lie in these blocks (a test checks every
    code point), so the class costs a few hundred lookups at import, not a million.
    """
    blocks = [(0xAD, 0xAD), (0x600, 0x8FF), (0x180E, 0x180E), (0x2000, 0x206F)]
    blocks += [(0xFEFF, 0xFEFF), (0xFFF0, 0xFFFF), (0x11000, 0x111FF), (0x13430, 0x1345F)]
    blocks += [(0x1BCA0, 0x1BCAF), (0x1D100, 0x1D1FF), (0xE0000, 0xE007F)]
    chars = (chr(c) for low, high in blocks for c in range(low, high + 1))
    return re.escape("".join(ch for ch in chars if unicodedata.category(ch) == "Cf"))


FORMAT_RE = re.compile(f"[{_format_class()}]")
# What _clean removes: every format character but a ZWJ inside an emoji sequence (after
# an emoji or its VS16, before an emoji), which makes one emoji of several (a family, a
# rainbow flag). The emoji blocks are generous; a ZWJ they miss only splits the emoji.
_EMOJI = (
    "\u00a9\u00ae\u203c\u2049\u2122\u2139\u2190-\u21ff\u2300-\u23ff\u24c2\u25a0-\u25ff"
    "\u2600-\u27bf\u2900-\u297f\u2b00-\u2bff\u3030\u303d\u3297\u3299"
    "\U0001f000-\U0001faff\U0001fc00-\U0001fffd"
)
_UNWANTED_RE = re.compile(f"(?!(?<=[{_EMOJI}\ufe0f])\u200d(?=[{_EMOJI}])){FORMAT_RE.pattern}")


# The same set as one character class, for speed: Cc is exactly U+0000-U+001F and
# U+007F-U+009F, Cs exactly U+D800-U+DFFF (tested against is_forbidden for every code point).
FORBIDDEN_RE = re.compile(
    "[" + re.escape("".join(sorted(_FORBIDDEN))) + "\x00-\x1f\x7f-\x9f\ud800-\udfff]"
)


def _clean(text: str) -> str:
    """Rules 1-3 of safe_name: the result may be empty."""
    # Removed, not replaced by a space: "Wal\u200bden" reads "Walden". Before NFC, so that
    # a mark the removal joins to its letter is composed too.
    text = _UNWANTED_RE.sub("", text)
    text = unicodedata.normalize("NFC", text)
    text = FORBIDDEN_RE.sub(" ", text)
    # str.split() with no argument splits on every Unicode whitespace run (NBSP, U+3000,
    # line separators...), so this also collapses the spaces that replaced forbidden runs.
    text = " ".join(text.split())
    # Whitespace is now single ASCII spaces, so one strip of " ." reaches a fixed point:
    # a leading dot would hide the file, a trailing dot or space is illegal on Windows.
    return text.strip(" .")


def _extends_previous(text: str, i: int) -> bool:
    """True if cutting `text` before index i would split a character from what belongs to it."""
    ch = text[i]
    if unicodedata.category(ch) in ("Mn", "Mc", "Me"):  # combining marks, variation selectors
        return True
    if "\U0001f3fb" <= ch <= "\U0001f3ff":  # emoji skin-tone modifiers
        return True
    # Either side of a ZWJ is the middle of an emoji sequence.
    return ch == _ZWJ or text[i - 1] == _ZWJ


def _truncate(stem: str, budget: int) -> str:
    """The longest prefix of `stem` within `budget` UTF-8 bytes, cut between whole characters."""
    if len(stem.encode("utf-8")) <= budget:
        return stem
    used = cut = 0
    for ch in stem:
        size = len(ch.encode("utf-8"))
        if used + size > budget:
            break
        used += size
        cut += 1
    # Back off to before the base character so its accents are not dropped. If the whole
    # prefix is one cluster (a run of bare marks, say), keep the byte-wise cut instead.
    back = cut
    while back > 0 and _extends_previous(stem, back):
        back -= 1
    return stem[: back or cut]


def _avoid_reserved(stem: str, tail: str) -> str:
    """Insert "_" after a Windows device name at the start of the full name."""
    head = (stem + tail).split(".", 1)[0].rstrip()
    if head.upper() not in _RESERVED_NAMES:
        return stem
    # The "_" goes right after the device name, not at the end of the stem: "nul.txt notes"
    # must become "nul_.txt notes", since Windows would still read "nul.txt notes_" as NUL.
    at = min(len(head), len(stem))
    return stem[:at] + "_" + stem[at:]


def safe_name(title: str, *, max_bytes: int = 200, suffix: str = "", ext: str = ".md") -> str:
    """The whole file name (stem + suffix + ext) for `title`.

    The name is legal on Linux, macOS and Windows, harmless inside an Obsidian link, at
    most `max_bytes` bytes of UTF-8, deterministic, and idempotent: feeding its stem
    back in gives the same name. `suffix` and `ext` are the caller's and kept as given.
    """
    tail = suffix + ext
    if any(is_forbidden(ch) or FORMAT_RE.match(ch) for ch in tail):
        raise ValueError(f"suffix and ext must not contain forbidden characters: {tail!r}")
    budget = max_bytes - len(tail.encode("utf-8"))
    if budget < _MIN_STEM_BYTES:
        raise ValueError(f"max_bytes={max_bytes} leaves no room for a name before {tail!r}")

    stem = _clean(title) or UNTITLED
    # Terminates: the second pass only has to trim what one "_" added, and that "_" sits
    # within the first 6 bytes, which the budget always keeps.
    while True:
        # A cut can expose a trailing space or dot, which Windows would drop or refuse.
        stem = _truncate(stem, budget).rstrip(" .") or UNTITLED
        stem = _avoid_reserved(stem, tail)
        if len(stem.encode("utf-8")) <= budget:
            return stem + tail


def category_folder(category: str | None) -> str:
    """The folder name for a Readwise category ("books" -> "Books")."""
    if category is None or not category.strip():
        return DEFAULT_CATEGORY_FOLDER
    # Lower-cased lookup so "BOOKS" cannot create a second "Books" folder on Linux.
    known = CATEGORY_FOLDERS.get(category.strip().lower())
    if known is not None:
        return known
    return safe_name(category.title(), ext="")


def _folder_parts(folder: str) -> list[str]:
    # Parts that clean to nothing ("", ".", "..", a stray leading "/") are dropped rather
    # than turned into "Untitled", so "../Readwise/" means "Readwise".
    return [safe_name(part, ext="") for part in folder.split("/") if _clean(part)]


def name_key(relpath: str) -> str:
    """The key under which two paths clash on case-insensitive, normalising file systems.

    NFC then casefold, as macOS and Windows treat "Notes.md", "notes.md" and an NFD
    spelling as the same file. Casefold is a little stricter than those file systems
    ("ß" matches "ss"), which only ever costs an unneeded suffix. The final NFC makes the
    key canonical, as casefold can emit decomposed sequences.
    """
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", relpath).casefold())


def note_relpath(
    folder: str,
    category: str | None,
    title: str,
    *,
    book_id: str,
    is_taken: Callable[[str], bool],
) -> str:
    """The note's posix path relative to the vault, e.g. "Readwise/Books/Walden.md".

    `is_taken` receives a `name_key` and says whether another document already owns that
    path; it must not count this document's own note. On a clash the suffix is
    " (book_id)", so the same book always gets the same name; if even that is taken,
    " (book_id-2)", " (book_id-3)" and so on.
    """
    prefix = "/".join([*_folder_parts(folder), category_folder(category)]) + "/"
    candidate = prefix + safe_name(title)
    if not is_taken(name_key(candidate)):
        return candidate
    for n in range(1, _MAX_COLLISION_TRIES + 1):
        suffix = f" ({book_id})" if n == 1 else f" ({book_id}-{n})"
        candidate = prefix + safe_name(title, suffix=suffix)
        if not is_taken(name_key(candidate)):
            return candidate
    raise RuntimeError(f"no free name for book {book_id} after {_MAX_COLLISION_TRIES} tries")
