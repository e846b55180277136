"""A note's frontmatter (its properties), key by key, and how a merge treats each key.
Pure: text in, text out.

The tool remembers each top-level key's lines as it wrote them. A key still as written
is updated to Readwise's value (or dropped, when the template no longer writes it); a
key the user changed keeps the user's value (a conflict, when Readwise changed it too);
a key the user added is theirs; a key the user deleted is not brought back; a key new
in the template is appended. A note without a frontmatter block gets none.
"""

from __future__ import annotations

import re

from readwise_sync.notes.layout import (
    Add,
    Conflict,
    Decision,
    Drop,
    Keep,
    Layout,
    MergeResult,
    Update,
)

_FM_KEY = re.compile(r"^(?P<key>[^\s#:'\"\-][^:]*?|\"[^\"]*\"|'[^']*'):(?:[ \t]|$)")


def split_frontmatter(text: str) -> tuple[str | None, str]:
    """(the YAML between the ``---`` lines, the body); (None, text) when there is none."""
    if not text.startswith("---\n"):
        return None, text
    end = text.find("\n---\n", 3)
    if end != -1:
        return text[4 : end + 1], text[end + 5 :]
    if text.endswith("\n---"):
        return text[4:-3], ""
    return None, text


def join_frontmatter(frontmatter: str | None, body: str) -> str:
    if frontmatter is None:
        return body
    if frontmatter and not frontmatter.endswith("\n"):
        frontmatter += "\n"
    return f"---\n{frontmatter}---\n{body}"


def frontmatter_chunks(frontmatter: str) -> list[tuple[str | None, str]]:
    """Top-level keys with their lines (continuations and list items included), in order.

    Lines that belong to no key (comments, blank lines before the first key) come as
    ``(None, lines)`` so they are carried through untouched.
    """
    chunks: list[tuple[str | None, str]] = []
    for line in frontmatter.splitlines(keepends=True):
        match = _FM_KEY.match(line)
        if match:
            chunks.append((match.group("key").strip("'\""), line))
        elif chunks and chunks[-1][0] is not None and not line.startswith("#"):
            key, text = chunks[-1]
            chunks[-1] = (key, text + line)
        else:
            chunks.append((None, line))
    return chunks


def layout_frontmatter(frontmatter: str) -> dict[str, str]:
    """The keyed chunks of a rendered frontmatter (first occurrence of a key wins)."""
    keyed: dict[str, str] = {}
    for key, text in frontmatter_chunks(frontmatter):
        if key is not None and key not in keyed:
            keyed[key] = _with_newline(text)
    return keyed


def _with_newline(text: str) -> str:
    return text if text.endswith("\n") else text + "\n"


def merge_frontmatter(
    current: str | None, last: Layout, new: Layout, result: MergeResult
) -> tuple[str | None, dict[str, str]]:
    """The merged frontmatter and the keys' lines to store; what changed and what
    conflicts goes to ``result``."""
    if current is None:
        # No frontmatter: the user removed it, or the note never had one (adopted): leave
        # it so. A note gets the tool's properties once it has a frontmatter block again.
        return None, dict(last.frontmatter)
    out: list[str] = []
    stored: dict[str, str] = {}
    seen: set[str] = set()
    for key, text in frontmatter_chunks(current):
        if key is None or key in seen:
            out.append(text)
            continue
        seen.add(key)
        _apply(_decide(key, text, last, new), text, out, stored, result)
    for key in new.frontmatter:
        if key not in seen:
            _apply(_decide_missing(key, last, new), "", out, stored, result)
    return "".join(out), stored


def _decide(key: str, text: str, last: Layout, new: Layout) -> Decision:
    """What happens to a key the note has (``text``: its lines there)."""
    name, lines, upstream = f"fm:{key}", _with_newline(text), new.frontmatter.get(key)
    if key not in last.frontmatter:
        # The user's key (or one adopted from an older export): theirs, and ours once equal.
        return Keep(name, upstream if upstream == lines else None)
    written = last.frontmatter[key]
    if lines == written:
        return Drop(name) if upstream is None else Update(name, upstream)
    if upstream == lines:
        return Keep(name, upstream)  # the user made it what Readwise has now: settled
    news = upstream is not None and upstream != last.rendering(name, written)
    return Keep(name, written, seen=last.rendered.get(name), conflict=upstream if news else None)


def _decide_missing(key: str, last: Layout, new: Layout) -> Decision:
    """What happens to a key Readwise has that the note lacks."""
    if key in last.frontmatter:
        return Keep(f"fm:{key}", last.frontmatter[key])  # the user deleted it: stays deleted
    return Add(f"fm:{key}", new.frontmatter[key])


def _apply(
    decision: Decision, text: str, out: list[str], stored: dict[str, str], result: MergeResult
) -> None:
    key = decision.key.removeprefix("fm:")
    if isinstance(decision, Keep):
        if text:
            out.append(text)
        if decision.stored is not None:
            stored[key] = decision.stored
        if decision.seen is not None:  # what counts as seen (a conflict resolved)
            result.layout.rendered[decision.key] = decision.seen
        if decision.conflict is not None:
            result.conflicts.append(Conflict(decision.key, decision.conflict))
    elif isinstance(decision, Update):
        replacement = decision.text if text.endswith("\n") else decision.text.rstrip("\n")
        out.append(replacement)
        stored[key] = decision.text
        if replacement.rstrip("\n") != text.rstrip("\n"):
            result.frontmatter_changed.append(key)
    elif isinstance(decision, Add):
        if out and not out[-1].endswith("\n"):
            out[-1] += "\n"
        out.append(decision.text)
        stored[key] = decision.text
        result.frontmatter_changed.append(key)
    else:
        result.frontmatter_changed.append(key)  # the template no longer writes it
