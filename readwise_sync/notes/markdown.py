"""Readwise's data made safe inside a note: YAML values, Markdown, no control characters.

The filters here are what the default templates use so that a note stays well-formed
whatever the data holds:

* ``yaml_quote`` and ``yaml``: a frontmatter value that parses back to exactly the data;
* ``bullet_text``, ``link_gap`` and ``bullet_note``: a highlight's text (and its note)
  that stays inside its bullet. Readwise's texts are Markdown and stay Markdown (emphasis,
  links, lists, quotes and closed code blocks render as in Readwise); only a construct
  that would break the note's structure gets a backslash before its first character,
  which Markdown shows as the character itself: a heading (``# x``, or ``===``/``---``
  under a line), a thematic break (``---``, ``***``, ``- - -``), an HTML block (a line
  opening with ``<div>``, ``<!--``...), a code fence that never closes, a link reference
  definition (``[x]: /url``, which would hide the line) and nesting deeper than a parser
  follows. After a text that ends in a code block, ``link_gap`` puts the location link
  on a line of its own, so the block still closes;
* ``one_line``: line breaks joined with a space (titles, authors and tags in lists);
* :func:`drop_controls`: the renderer drops control characters from the values the
  Markdown sections see (the filters expect them so) and from every section it renders
  but the highlights (whose values are clean): no note is "binary" to git.

What is a construct is decided by markdown-it-py (CommonMark, what Obsidian reads),
run only on texts with a line that could start a block; most have none and come back
unchanged.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

if TYPE_CHECKING:
    from markdown_it import MarkdownIt
    from markdown_it.token import Token

TEXT_INDENT = " " * 4  # continuation lines of a highlight stay inside its "- " bullet
NOTE_INDENT = " " * 6  # ... and of a note inside its "    - Note:" sub-bullet

# -- YAML (the frontmatter) -----------------------------------------------------------------

_YAML_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r", "\0": "\\0"}


def _yaml_char(char: str) -> str:
    if char in _YAML_ESCAPES:
        return _YAML_ESCAPES[char]
    code = ord(char)
    # Outside YAML's printable set, or a line/paragraph separator YAML would fold: escape.
    printable = (
        0x20 <= code <= 0x7E
        or code == 0x85
        or 0xA0 <= code <= 0xD7FF
        or 0xE000 <= code <= 0xFFFD
        or code >= 0x10000
    )
    if code in (0x85, 0x2028, 0x2029, 0xFEFF) or not printable:
        return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"
    return char


# Exactly the characters _yaml_char changes (see its table and printable set).
_YAML_UNSAFE = re.compile('[\\\\"\x00-\x1f\x7f-\x9f\u2028\u2029\ufeff\ud800-\udfff\ufffe\uffff]')


def filter_yaml_quote(value: Any) -> str:
    """A double-quoted YAML string that parses back to exactly ``value``."""
    text = "" if value is None else str(value)
    return '"' + _YAML_UNSAFE.sub(lambda match: _yaml_char(match.group()), text) + '"'


_PLAIN_SAFE = re.compile(r"[^\W\d][\w\-./]*(?: [\w\-./]+)*")
_YAML_WORDS = {"true", "false", "yes", "no", "on", "off", "null", "y", "n", "~"}


def filter_yaml(value: Any) -> str:
    """A YAML scalar: plain when that is unambiguous (``articles``), double-quoted otherwise."""
    text = "" if value is None else str(value)
    if _PLAIN_SAFE.fullmatch(text) and text.lower() not in _YAML_WORDS:
        return text
    return filter_yaml_quote(text)


# -- characters and lines -------------------------------------------------------------------

# C0 but tab and newline, DEL, C1. Those Python counts as whitespace (VT, FF, CR, the four
# information separators, NEL) become a space, so the words they part stay apart.
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_SPACE_LIKE = frozenset("\x0b\x0c\r\x1c\x1d\x1e\x1f\x85")


def drop_controls(text: str) -> str:
    """``text`` without control characters: whitespace-like ones become a space."""
    if text.isprintable() or _CONTROLS.search(text) is None:  # the first test is quicker
        return text
    return _CONTROLS.sub(lambda match: " " if match.group() in _SPACE_LIKE else "", text)


def without_controls(variables: dict[str, Any]) -> dict[str, Any]:
    """Template variables with control characters dropped from every text (and list of
    texts) in them: what the note's Markdown sections see."""
    clean = dict(variables)
    for name, value in variables.items():
        if isinstance(value, str):
            clean[name] = drop_controls(value)
        elif isinstance(value, list) and all(isinstance(item, str) for item in value):
            clean[name] = [drop_controls(item) for item in value]
    return clean


def indented(text: str, indent: str) -> str:
    """``text`` for a bullet: no control characters, and every line after the first
    indented, so that multi-paragraph text stays in its bullet."""
    if "\r" in text:  # a line end, not a control character to drop
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = drop_controls(text)
    if "\n" not in text:
        return text.rstrip()  # one line, as most highlights are
    lines = text.strip("\n").rstrip().split("\n")
    return "\n".join([lines[0], *((indent + line) if line.strip() else "" for line in lines[1:])])


_BREAKS = re.compile(r"[ \t]*[\r\n][ \t\r\n]*")


def filter_one_line(value: Any) -> str:
    """Line breaks (and the spaces around them) joined into one space."""
    text = "" if value is None else str(value)
    if "\n" not in text and "\r" not in text:
        return text
    return _BREAKS.sub(" ", text).strip(" ")


_URL_UNSAFE = re.compile("[\x00-\x20\x7f-\x9f]")


def link_target(url: str) -> str:
    """A URL usable as a Markdown link target: whitespace and controls percent-encoded."""
    if _URL_UNSAFE.search(url) is None:
        return url
    return _URL_UNSAFE.sub(lambda match: quote(match.group(), safe=""), url)


# -- Markdown blocks ------------------------------------------------------------------------


# What can begin a block after a line's indentation: a quote, an ATX heading, a list
# item, a line of only -, *, _ or = (a break, or a setext underline), an ordered item, a
# fence, HTML, a link reference definition. Any other line is paragraph text.
_BLOCK_START = (
    r"[ \t]*(?:>|#{1,6}(?![^ \t\n])|[-+*](?![^ \t\n])|[-*_=][-*_= \t]*(?![^\n])"
    r"|\d{1,9}[.)](?![^ \t\n])|```|~~~|<[A-Za-z/!?]|\[)"
)
_FIRST_LINE = re.compile(_BLOCK_START)


@dataclass(frozen=True, eq=False)  # hashed by identity: two places, made once
class _Place:
    """Where a text goes in the note: ``head`` is what precedes it from its top-level
    bullet on, and its continuation lines start with ``indent``."""

    head: str
    indent: str
    item_levels: tuple[int, ...]  # token levels whose list item must stay the only one
    starts_a_line: bool  # whether its first line begins a line of the note
    later_lines: re.Pattern[str]  # a line after the first that could begin a block

    def may_break(self, text: str) -> bool:
        """Whether ``text`` has a line that could begin a block (a cheap first look)."""
        if self.starts_a_line and _FIRST_LINE.match(text):
            return True
        return "\n" in text and self.later_lines.search(text) is not None


def _place(head: str, indent: str, levels: tuple[int, ...], code_from: int) -> _Place:
    """``code_from``: the indentation from which a continuation line could be code."""
    later = re.compile(rf"\n(?:{_BLOCK_START}| {{{code_from}}}| *\t)")
    return _Place(head, indent, levels, head.endswith("- "), later)


_BULLET = _place("- ", TEXT_INDENT, (1,), len(TEXT_INDENT) + 2)
_NOTE = _place("- x\n    - Note: ", NOTE_INDENT, (1, 3), len(NOTE_INDENT) + 4)

_BLOCK_STARTS = "-#>+*=_`~<["
_LEAVES = frozenset({"paragraph_open", "heading_open", "fence", "code_block", "html_block", "hr"})
_ONLY_MARKERS = re.compile(r"[ \t>]*(?:(?:[-+*]|\d{1,9}[.)])[ \t]*)?")
_ROUNDS = 6
_MAX_PARSED = 64 * 1024  # longer texts are flattened without parsing: time stays linear


@functools.cache
def _parser() -> MarkdownIt:
    from markdown_it import MarkdownIt  # only a note with an odd highlight pays for it

    return MarkdownIt("commonmark")


def _fence_closed(token: Token, start: int, end: int) -> bool:
    content = token.content
    lines = content.count("\n") + (content != "" and not content.endswith("\n"))
    return lines == end - start - 2


def _construct(token: Token, seen: dict[int, int]) -> tuple[int, str] | None:
    """(line, characters one of which starts it) for a token that breaks the note."""
    assert token.map is not None
    start, end = token.map
    kind = token.type
    if kind == "heading_open":
        return (start, "#") if token.markup.startswith("#") else (end - 1, token.markup)
    if kind == "hr":
        return start, token.markup[:1]
    if kind == "html_block":
        return start, "<"
    if kind == "fence" and not _fence_closed(token, start, end):
        return start, token.markup[:1]
    if token.level == 0 and kind not in ("bullet_list_open", "bullet_list_close"):
        return start, ""  # out of the bullet
    if kind == "list_item_open" and token.level in seen:
        seen[token.level] += 1
        if seen[token.level] > 1:
            return start, ""  # a second bullet where there must be one
    return None


def _bad_lines(tokens: list[Token], place: _Place, lines: list[str]) -> dict[int, str]:
    """Lines of the text (by index) to escape, each with the characters to look for."""
    offset = place.head.count("\n")
    seen = dict.fromkeys(place.item_levels, 0)
    bad: dict[int, str] = {}
    covered: set[int] = set()
    for token in tokens:
        if token.map is None:
            continue
        if token.type in _LEAVES:
            covered.update(range(*token.map))
        found = _construct(token, seen)
        if found is not None and found[0] >= offset:
            bad[found[0] - offset] = found[1]
    for index, line in enumerate(lines):  # a definition, or nested past the parser's limit
        if index + offset not in covered and not _ONLY_MARKERS.fullmatch(line):
            bad.setdefault(index, "")
    return bad


def _escape(line: str, chars: str) -> str:
    """A backslash before the first of ``chars`` in ``line`` (or before its first
    character but spaces): the character then reads as itself."""
    body = len(line) - len(line.lstrip(" \t"))
    index = next((i for i in range(body, len(line)) if line[i] in chars), body) if chars else body
    if index >= len(line):
        return line
    digits = re.match(r"\d{1,9}(?=[.)])", line[index:])
    if digits:  # "1." starts a list; "1\." does not
        index += digits.end()
    elif line[index] not in _BLOCK_STARTS:
        return line
    return line[:index] + "\\" + line[index:]


def _flatten(lines: list[str], place: _Place) -> list[str]:
    """Every line plain paragraph text: the last resort, and for very long texts."""
    out = []
    for index, line in enumerate(lines):
        body = _escape(line.lstrip(" \t"), "")
        out.append(body if index == 0 or not body else place.indent + body)
    return out


def _make_safe(lines: list[str], place: _Place) -> tuple[list[str], bool]:
    """The lines with what would break the note escaped, and whether the last one is
    inside a code block (so a link after it needs a line of its own)."""
    offset = place.head.count("\n")
    for _ in range(_ROUNDS):
        tokens = _parser().parse(place.head + "\n".join(lines))
        bad = _bad_lines(tokens, place, lines)
        if not bad:
            end = offset + len(lines)
            in_code = any(
                t.type in ("fence", "code_block") and t.map is not None and t.map[1] >= end
                for t in tokens
            )
            return lines, in_code
        escaped = [_escape(lines[i], bad[i]) if i in bad else lines[i] for i in range(len(lines))]
        if escaped == lines:
            break
        lines = escaped
    return _flatten(lines, place), False


_LEAD = (" ", "\t", "\n")


def _plain(text: str, place: _Place) -> bool:
    """Whether ``text`` is safe as it is (nearly every text: a quick look settles it)."""
    return not (place.starts_a_line and text[:1] in _LEAD) and not place.may_break(text)


@functools.lru_cache(maxsize=4)  # a text goes through two filters in a row
def _safe(text: str, place: _Place) -> tuple[str, bool]:
    if place.starts_a_line and text[:1] in _LEAD:
        lead = text[: len(text) - len(text.lstrip(" \t\n"))]
        if "\n" in lead or len(f"- {lead}".expandtabs(4)) > 4:
            # Past two spaces, space before the first word moves the bullet's content
            # column beyond its indented lines (with four, makes it code); a blank
            # first line ends the bullet.
            text = text[len(lead) :]
    if not place.may_break(text):
        return text, False
    lines = text.split("\n")
    if len(text) > _MAX_PARSED:
        return "\n".join(_flatten(lines, place)), False
    safe, in_code = _make_safe(lines, place)
    return "\n".join(safe), in_code


def filter_bullet_text(value: Any) -> str:
    """A highlight's text as it follows ``- `` (continuation lines already indented)."""
    text = "" if value is None else str(value)
    return text if _plain(text, _BULLET) else _safe(text, _BULLET)[0]


def filter_link_gap(value: Any) -> str:
    """What goes between a highlight's text and its link: a space, or a new line when
    the text ends in a code block (the link would be code, or keep a fence open)."""
    text = "" if value is None else str(value)
    in_code = not _plain(text, _BULLET) and _safe(text, _BULLET)[1]
    return "\n" + TEXT_INDENT if in_code else " "


def filter_bullet_note(value: Any) -> str:
    """A highlight's note as it follows ``    - Note: `` (continuation lines indented)."""
    text = "" if value is None else str(value)
    return text if _plain(text, _NOTE) else _safe(text, _NOTE)[0]


FILTERS = {
    "yaml": filter_yaml,
    "yaml_quote": filter_yaml_quote,
    "one_line": filter_one_line,
    "bullet_text": filter_bullet_text,
    "bullet_note": filter_bullet_note,
    "link_gap": filter_link_gap,
}
