"""What the tool wrote into a note, piece by piece, and what a merge decides for each piece.

A merge (:mod:`readwise_sync.notes.merge`) finds each piece it wrote last time in the
note (see :mod:`readwise_sync.notes.pieces`), decides what happens to it in the closed
vocabulary below (:data:`Decision`), then applies the decisions as edits. Pure values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Span = tuple[int, int]


@dataclass
class Layout:
    """What the tool wrote into one note, piece by piece (stored in the state after each write).

    ``rendered`` holds, sparsely, the rendering a written piece stands for when the two
    differ: adopted notes keep the block the user already had, and a later change is
    measured against the rendering, not against that older text.
    """

    frontmatter: dict[str, str] = field(default_factory=dict)
    sections: dict[str, str] = field(default_factory=dict)
    blocks: dict[str, str] = field(default_factory=dict)
    rendered: dict[str, str] = field(default_factory=dict)
    # Not stored: blocks an adoption found saying something else than Readwise has now,
    # with no way to tell whose the difference is (see adopt_layout): conflicts.
    disputed: set[str] = field(default_factory=set, compare=False)

    def rendering(self, key: str, written: str) -> str:
        return self.rendered.get(key, written)

    def to_json(self) -> dict[str, Any]:
        return {
            "frontmatter": self.frontmatter,
            "sections": self.sections,
            "blocks": [[hid, text] for hid, text in self.blocks.items()],
            "rendered": self.rendered,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Layout:
        if not data:
            return cls()
        return cls(
            frontmatter=dict(data.get("frontmatter", {})),
            sections=dict(data.get("sections", {})),
            blocks={str(hid): text for hid, text in data.get("blocks", [])},
            rendered=dict(data.get("rendered", {})),
        )


@dataclass
class Conflict:
    """Readwise changed a piece the user had edited; the user's text was kept."""

    block_id: str  # "h:<highlight id>", "fm:<key>" or "s:<section>"
    upstream: str  # what Readwise has now ("" when deleted upstream)


@dataclass
class MergeResult:
    text: str
    layout: Layout
    added: int = 0
    updated: int = 0
    removed: int = 0
    frontmatter_changed: list[str] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)

    def describe(self) -> str:
        """``2 highlights added, 1 updated`` (for --dry-run and -v)."""
        parts = []
        if self.added:
            parts.append(f"{self.added} highlight{'s' if self.added != 1 else ''} added")
        if self.updated:
            parts.append(f"{self.updated} updated")
        if self.removed:
            parts.append(f"{self.removed} removed")
        if self.frontmatter_changed:
            parts.append("properties " + ", ".join(self.frontmatter_changed) + " updated")
        if self.conflicts:
            n = len(self.conflicts)
            parts.append(f"{n} conflict{'s' if n != 1 else ''} (your text kept)")
        return ", ".join(parts) or "no change"


# -- what a merge decides for one piece (``key``: "h:<id>", "fm:<key>" or "s:<section>") --


@dataclass(frozen=True)
class Keep:
    """The note's text for the piece stays as it is (at ``span``, when found as written).

    The layout remembers ``stored`` for it (nothing when None: the piece is the user's
    own), and ``seen`` as the rendering it stands for. ``conflict`` is what Readwise has,
    when the user's text stands against a change of Readwise's ("" for a deletion).
    """

    key: str
    stored: str | None
    span: Span | None = None
    seen: str | None = None
    conflict: str | None = None


@dataclass(frozen=True)
class Update:
    """The piece is as the tool wrote it and Readwise changed it: ``text`` replaces it."""

    key: str
    text: str
    span: Span | None = None


@dataclass(frozen=True)
class Drop:
    """The piece is as the tool wrote it and Readwise (or the template) no longer has it."""

    key: str
    span: Span | None = None


@dataclass(frozen=True)
class Add:
    """A piece new in Readwise: put into the note."""

    key: str
    text: str


Decision = Keep | Update | Drop | Add
