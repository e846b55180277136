"""Turning a book into note text, with Jinja2 templates. Pure: no I/O but loading templates.

The templates use Readwise's own variable names and filters (``date('F j,
Y')``, ``pluralize``) so a user can paste the templates from their Readwise
export settings. A note is assembled from the same sections Readwise has,
each a file in the template folder (a user's ``template_dir`` may override
any of them; the rest fall back to the defaults shipped in ``templates/``):

    frontmatter.jinja        the YAML between the ``---`` lines (nothing when empty)
    page_title.jinja         an optional first line, e.g. ``# {{ full_title | one_line }}``
    metadata.jinja           cover, ``## Metadata`` and its list
    highlights_header.jinja  ``## Highlights``
    highlight.jinja          one block per highlight

Each highlight block is kept separately in :class:`RenderedNote` so the merge
can tell the tool's own blocks from the user's text. What keeps a note well-formed
whatever the data holds (the filters the default templates use, and no control
character in any printed value) is in :mod:`readwise_sync.notes.markdown`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from pathlib import Path
from typing import Any

import jinja2
import jinja2.meta

from readwise_sync.domain import Document, Highlight
from readwise_sync.errors import ConfigError
from readwise_sync.notes.markdown import (
    FILTERS,
    NOTE_INDENT,
    TEXT_INDENT,
    drop_controls,
    indented,
    link_target,
    without_controls,
)

SECTIONS = ("frontmatter", "page_title", "metadata", "highlights_header", "highlight")


# -- Readwise's filters (those that escape are in markdown.py) ------------------------------

_MONTHS = "January February March April May June July August September October November December"
_DAYS = "Monday Tuesday Wednesday Thursday Friday Saturday Sunday"


def _as_datetime(value: Any) -> datetime | date | None:
    if isinstance(value, datetime | date):
        return value
    if isinstance(value, str) and value.strip():
        text = value.strip().replace("Z", "+00:00")
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            return None
    return None


def _ordinal(day: int) -> str:
    if 11 <= day % 100 <= 13:
        return "th"
    return {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")


def _php_code(moment: datetime | date, code: str) -> str:
    """One PHP/Django date format character (the ones Readwise templates use)."""
    stamp = (
        moment if isinstance(moment, datetime) else datetime(moment.year, moment.month, moment.day)
    )
    months, days = _MONTHS.split(), _DAYS.split()
    table: dict[str, Callable[[], str]] = {
        "d": lambda: f"{stamp.day:02d}",
        "j": lambda: str(stamp.day),
        "D": lambda: days[stamp.weekday()][:3],
        "l": lambda: days[stamp.weekday()],
        "N": lambda: str(stamp.isoweekday()),
        "w": lambda: str(stamp.isoweekday() % 7),
        "S": lambda: _ordinal(stamp.day),
        "z": lambda: str(stamp.timetuple().tm_yday - 1),
        "F": lambda: months[stamp.month - 1],
        "M": lambda: months[stamp.month - 1][:3],
        "m": lambda: f"{stamp.month:02d}",
        "n": lambda: str(stamp.month),
        "Y": lambda: f"{stamp.year:04d}",
        "y": lambda: f"{stamp.year % 100:02d}",
        "a": lambda: "am" if stamp.hour < 12 else "pm",
        "A": lambda: "AM" if stamp.hour < 12 else "PM",
        "g": lambda: str(stamp.hour % 12 or 12),
        "G": lambda: str(stamp.hour),
        "h": lambda: f"{stamp.hour % 12 or 12:02d}",
        "H": lambda: f"{stamp.hour:02d}",
        "i": lambda: f"{stamp.minute:02d}",
        "s": lambda: f"{stamp.second:02d}",
        "c": lambda: stamp.isoformat(),
        "U": lambda: str(int(stamp.timestamp())),
    }
    return table[code]() if code in table else code


def filter_date(value: Any, fmt: str = "Y-m-d") -> str:
    """Readwise's ``date`` filter: PHP-style format codes, ``\\`` escapes the next character."""
    moment = _as_datetime(value)
    if moment is None:
        return "" if value is None else str(value)
    out: list[str] = []
    escaped = False
    for char in fmt:
        if escaped:
            out.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        else:
            out.append(_php_code(moment, char))
    return "".join(out)


def filter_pluralize(value: Any, arg: str = "s") -> str:
    """Django's ``pluralize``: ``"s"``, or ``"es"``, or ``"y,ies"`` style singular,plural."""
    singular, _, plural = arg.rpartition(",") if "," in arg else ("", "", arg)
    try:
        count = len(value) if isinstance(value, list | tuple | set | dict) else float(value)
    except (TypeError, ValueError, jinja2.UndefinedError):  # an unknown variable: no suffix
        return singular
    return singular if count == 1 else plural


# -- contexts -----------------------------------------------------------------------------------


def highlight_location(book: Document, item: Highlight) -> tuple[str, str]:
    """Readwise's ``highlight_location`` and ``highlight_location_url`` for one highlight."""
    if item.url:
        label = "View Tweet" if book.category == "tweets" else "View Highlight"
        return label, link_target(item.url)
    if item.location is None or item.location_type in (None, "none"):
        return "", ""
    if item.location_type == "location":
        url = ""
        if book.asin:
            url = link_target(
                f"kindle://book?action=open&asin={book.asin}&location={item.location}"
            )
        return f"Location {item.location}", url
    if item.location_type == "page":
        return f"Page {item.location}", ""
    return "", ""  # "order", "offset", "time_offset" mean nothing to a reader without a link


def _local(moment: datetime | None, tz: tzinfo | None) -> datetime | None:
    if moment is None:
        return None
    # astimezone() without an argument uses the system's rules for that very instant (DST-aware).
    return moment.astimezone(tz) if tz is not None else moment.astimezone()


# Each variable of a highlight block, worked out from the document, the highlight and
# the time zone (``readwise_url`` is the highlight's own there, as in Readwise's templates).
_HIGHLIGHT_VARIABLES: dict[str, Callable[[Document, Highlight, tzinfo | None], Any]] = {
    "highlight_id": lambda book, item, tz: item.id,
    "highlight_text": lambda book, item, tz: indented(item.text, TEXT_INDENT) if item.text else "",
    "highlight_note": lambda book, item, tz: indented(item.note, NOTE_INDENT) if item.note else "",
    "highlight_tags": lambda book, item, tz: [drop_controls(tag) for tag in item.tags],
    "highlight_color": lambda book, item, tz: drop_controls(item.color) if item.color else "",
    # the highlight's URL, as a link
    "highlight_url": lambda book, item, tz: highlight_location(book, item)[1] if item.url else "",
    "highlight_favorite": lambda book, item, tz: item.is_favorite,
    "highlighted_at": lambda book, item, tz: _local(item.highlighted_at, tz),
    "readwise_url": lambda book, item, tz: (
        link_target(item.readwise_url) if item.readwise_url else ""
    ),
}
_ALL_HIGHLIGHT_NAMES = frozenset(
    {*_HIGHLIGHT_VARIABLES, "highlight_location", "highlight_location_url"}
)


def highlight_context(
    book: Document, item: Highlight, tz: tzinfo | None, names: Collection[str] | None = None
) -> dict[str, Any]:
    """The variables of one highlight block, beside the note's: all of them, or those
    of ``names`` (what a template uses; see :class:`Renderer`)."""
    wanted = _ALL_HIGHLIGHT_NAMES if names is None else names
    context = {
        name: _HIGHLIGHT_VARIABLES[name](book, item, tz)
        for name in wanted
        if name in _HIGHLIGHT_VARIABLES
    }
    # Both location variables come from one reading of the highlight's location.
    if "highlight_location" in wanted or "highlight_location_url" in wanted:
        context["highlight_location"], context["highlight_location_url"] = highlight_location(
            book, item
        )
    return context


def note_context(book: Document, tz: tzinfo | None = None) -> dict[str, Any]:
    """The document-level template variables, under Readwise's names."""
    live = book.live_highlights()
    moments = [h.highlighted_at or h.created_at for h in live]
    known = [m for m in moments if m is not None]
    first = _local(min(known), tz) if known else None
    last = _local(max(known), tz) if known else None
    return {
        "book_id": book.id,
        "title": book.display_title,
        "full_title": book.title or book.display_title,
        "author": book.author or "",
        "category": book.category,
        "source": book.source or "",
        "url": link_target(book.source_url or book.unique_url or ""),
        "source_url": link_target(book.source_url or ""),
        "unique_url": link_target(book.unique_url or ""),
        "readwise_url": link_target(book.readwise_url or ""),
        "image_url": link_target(book.cover_image_url or ""),
        "asin": book.asin or "",
        "document_tags": list(book.tags),
        "document_note": book.document_note or "",
        "summary": book.summary or "",
        "published_date": None,  # not in the export API
        # ``date``/``time``: the day of the first highlight, local time (deterministic, so a
        # re-render of unchanged data gives the same note).
        "date": first.date() if first else None,
        "time": first.strftime("%H:%M") if first else "",
        "last_highlighted_date": last.date() if last else None,
        "num_highlights": len(live),
        "is_new_page": True,
        "has_new_highlights": bool(live),
    }


# -- rendering ----------------------------------------------------------------------------------


def _variables_used(env: jinja2.Environment, name: str) -> frozenset[str] | None:
    """The variables a template names (Jinja's own reading of it), or None when it
    includes or imports another template, which may name any."""
    assert env.loader is not None
    source = env.loader.get_source(env, name)[0]
    tree = env.parse(source)
    if any(True for _ in jinja2.meta.find_referenced_templates(tree)):
        return None
    return frozenset(jinja2.meta.find_undeclared_variables(tree))


@dataclass
class RenderedNote:
    """A note's full text, and the pieces it is made of (what the merge looks for).

    ``text`` is ``---`` + ``frontmatter`` + ``---``, then ``sections["preamble"]`` (page
    title and metadata), a blank line, ``sections["header"]``, and the ``blocks`` in
    reading order, one after the other.
    """

    text: str
    frontmatter: str | None = None
    sections: dict[str, str] = field(default_factory=dict)
    blocks: dict[str, str] = field(default_factory=dict)


class Renderer:
    """Compiled templates plus the time zone that dates are shown in."""

    def __init__(self, template_dir: Path | None = None, tz: tzinfo | None = None) -> None:
        loaders: list[jinja2.BaseLoader] = [
            jinja2.PackageLoader("readwise_sync.notes", "templates")
        ]
        if template_dir is not None:
            if not template_dir.is_dir():
                raise ConfigError(f"template_dir: {template_dir} is not a folder")
            loaders.insert(0, jinja2.FileSystemLoader(template_dir))
        self.tz = tz
        env = jinja2.Environment(
            loader=jinja2.ChoiceLoader(loaders),
            autoescape=False,  # Markdown, not HTML
            undefined=jinja2.ChainableUndefined,  # a Readwise variable we lack renders as ""
            finalize=lambda value: "" if value is None else value,  # nor does a None one
            keep_trailing_newline=False,
        )
        env.filters.update(FILTERS, date=filter_date, pluralize=filter_pluralize)
        self._templates: dict[str, jinja2.Template] = {}
        self._uses: dict[str, frozenset[str] | None] = {}
        for section in SECTIONS:
            try:
                template = env.get_template(f"{section}.jinja")
            except jinja2.TemplateSyntaxError as exc:
                raise ConfigError(
                    f"template {exc.filename or section}: line {exc.lineno}: {exc.message}"
                ) from exc
            except UnicodeDecodeError as exc:
                raise ConfigError(f"template {section}.jinja: not UTF-8 text ({exc})") from exc
            # Jinja copies a template's globals into each render's context, and a ChainMap
            # (over the environment's) is copied key by key in Python: a plain dict of the
            # same globals saves a third of the cost of rendering a highlight's block.
            template.globals = dict(template.globals)
            self._templates[section] = template
            self._uses[section] = _variables_used(env, f"{section}.jinja")

    def _render(self, section: str, context: Mapping[str, Any]) -> str:
        """One section's text; a template's error is a :class:`ConfigError` naming it
        (with the template's own line numbers)."""
        uses = self._uses[section]
        if uses is not None:
            context = {name: context[name] for name in uses if name in context}
        return self._run(section, context)

    def _run(self, section: str, context: Mapping[str, Any]) -> str:
        try:
            return self._templates[section].render(context)
        except jinja2.TemplateError as exc:
            raise ConfigError(f"template {section}.jinja: {exc}") from exc

    def _section(self, section: str, context: Mapping[str, Any]) -> str:
        return drop_controls(self._render(section, context)).strip("\n")

    def render_blocks(self, book: Document, context: Mapping[str, Any]) -> dict[str, str]:
        """The note's highlight blocks by highlight id, in reading order; ``context``:
        the note's variables."""
        uses = self._uses["highlight"]
        if uses is not None:  # only what the template names: a third of a block's cost
            context = {name: context[name] for name in uses if name in context}
        return {  # the context is already what the template names: rendered as it is
            item.id: self._run(
                "highlight", {**context, **highlight_context(book, item, self.tz, uses)}
            ).strip("\n")
            for item in book.live_highlights()
        }

    def render_note(self, book: Document) -> RenderedNote:
        # The frontmatter escapes control characters (and reads back exactly); the rest
        # of the note sees values without them (and its other sections are cleaned too).
        exact = note_context(book, self.tz)
        context = without_controls(exact)
        blocks = self.render_blocks(book, context)
        parts: list[str] = []
        sections: dict[str, str] = {}
        frontmatter: str | None = self._section("frontmatter", exact)
        if frontmatter and frontmatter.strip():
            parts.append(f"---\n{frontmatter}\n---\n")
        else:
            frontmatter = None
        preamble = [self._section(name, context) for name in ("page_title", "metadata")]
        preamble = [text for text in preamble if text.strip()]
        if preamble:
            sections["preamble"] = "\n\n".join(preamble)
            parts.append(sections["preamble"] + "\n\n")
        header = self._section("highlights_header", context)
        if header.strip():
            sections["header"] = header
            parts.append(header + "\n")
        if blocks:
            parts.append("\n".join(blocks.values()) + "\n")
        text = "".join(parts)
        if text.endswith("\n\n"):
            text = text.rstrip("\n") + "\n"
        return RenderedNote(text=text, frontmatter=frontmatter, sections=sections, blocks=blocks)
