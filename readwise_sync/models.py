"""The shapes of the Readwise API, as pydantic models.

The export endpoint (``GET /api/v2/export/``) is what sync uses: a page holds
books, a book holds highlights. The models are deliberately tolerant, because
the real API drifts (see ``readwise-api.md``):

* keys missing in older data (``summary``, ``is_deleted``, a book's
  ``external_id``) get defaults; unknown new keys are ignored;
* ``null`` and ``""`` mean the same for optional text and are both stored as
  ``None``, so templates and comparisons never have to tell them apart;
* ``nextPageCursor`` may be an integer or a string and is kept as text;
* ``location_type`` and ``category`` are open sets (plain strings);
* timestamps come with or without fractions and offsets; naive ones are UTC; a
  number, or digits that are no compact ISO date (``20240101`` is one), is a Unix time;
* lone UTF-16 surrogates (JSON ``"\\ud800"`` decodes to one) become U+FFFD in every
  text field, since no note file (UTF-8) or YAML can hold them; ``\r\n`` and ``\r``
  become ``\n``. That cleaning happens once on the whole input, before validation
  (:meth:`ExportPage.parse`, ``model_validate``), not in a validator per field.

Nearly every page takes the fast path: straight from JSON into the models in
pydantic's own parser and types, then one pass per object in Python that makes
blank texts ``None`` and naive timestamps UTC. A page the native types refuse (a
blank number, a ``null`` list, a timestamp with spaces around it), or one with a
carriage return or a lone surrogate, takes the careful path instead: decoded with
the stdlib, every string cleaned, each field prepared as its ``_Lenient`` mark says,
then validated by the same models. Both paths give the same models (tested).

``ReaderDocument`` covers the Reader (v3) list shape. Sync does not use it;
it exists so recorded v3 data can be read and checked.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Self, get_args, get_origin

from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    model_validator,
)

_SURROGATE = re.compile("[\ud800-\udfff]")
# A carriage return inside a JSON string is always escaped: "\r" or "\u000d". (This also
# matches an escaped backslash before an "r"; such a page just takes the careful path.)
_CR_ESCAPE = re.compile(rb"\\r|\\u000[dD]")
# pydantic reads a string of digits as a Unix time, so a compact ISO date ("20240101",
# the only all-digit form fromisoformat takes) comes out between 1970 and March 1973. A
# timestamp before 1974 on the fast path sends the page the careful way, where it is the
# date it says: both paths agree, at the cost of one comparison per timestamp.
_MISREAD_BEFORE = 1974  # a year
_on_fast_path: ContextVar[bool] = ContextVar("on_fast_path", default=False)


def _scrub_text(value: Any) -> Any:
    """Replace lone surrogates with U+FFFD (a pair split in two code points is rejoined),
    and make every line end a plain ``\n``: a note with a stray ``\r`` would not survive
    the first editor that normalises line ends, and the merge would no longer know it."""
    if not isinstance(value, str):
        return value
    if _SURROGATE.search(value):
        value = value.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    if "\r" in value:
        value = value.replace("\r\n", "\n").replace("\r", "\n")
    return value


def _scrub_tree(value: Any) -> Any:
    """:func:`_scrub_text` applied to every string in decoded JSON (keys included)."""
    if isinstance(value, str):
        return _scrub_text(value)
    if isinstance(value, dict):
        return {_scrub_text(k): _scrub_tree(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub_tree(item) for item in value]
    return value


def _blank_to_none(value: Any) -> Any:
    """Map ``""`` (and whitespace-only strings) to ``None``: the API uses both for "nothing"."""
    if isinstance(value, str) and not value.strip():
        return None
    return value


def _to_utc(value: Any) -> Any:
    """Parse timestamps; a timestamp without an offset is UTC, as the API documents.
    What is no ISO timestamp is left for pydantic to accept or refuse: a number, or a
    string of digits that is no compact ISO date, is a Unix time to it."""
    value = _blank_to_none(value)
    if isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            return value
    if isinstance(value, datetime) and value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value


def _none_to_list(value: Any) -> Any:
    return [] if value is None else value


def _cursor_to_text(value: Any) -> Any:
    """``nextPageCursor`` is an int in real data and "a string" in the docs: keep it as text."""
    value = _blank_to_none(value)
    if value is None or value is False or value == 0:
        return None
    return str(value)


@dataclass(frozen=True)
class _Lenient:
    """A field the API is loose about. ``prepare`` readies its raw value on the careful
    path; ``tidy`` is what the one pass after validation does to it on every path:
    ``"blank"`` (blank text is None) or ``"utc"`` (a naive timestamp is UTC)."""

    prepare: Callable[[Any], Any]
    tidy: str = ""


OptText = Annotated[str | None, _Lenient(_blank_to_none, "blank")]
OptInt = Annotated[int | None, _Lenient(_blank_to_none)]
Timestamp = Annotated[datetime | None, _Lenient(_to_utc, "utc")]


def _child_model(annotation: Any) -> type[_Model] | None:
    """The model a ``list[Model]`` field holds, if any."""
    args = get_args(annotation)
    if get_origin(annotation) is list and args and isinstance(args[0], type):
        return args[0] if issubclass(args[0], _Model) else None
    return None


class _Model(BaseModel):
    # extra="ignore": the API gains keys over time (resurface_weighting, ...).
    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=False)
    # From the fields' _Lenient marks, per class (see __pydantic_init_subclass__):
    # raw key -> (prepare, the model of the list it holds); the fields to tidy.
    _careful: ClassVar[dict[str, tuple[Callable[[Any], Any], type[_Model] | None]]] = {}
    _blank_fields: ClassVar[tuple[str, ...]] = ()
    _utc_fields: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        careful: dict[str, tuple[Callable[[Any], Any], type[_Model] | None]] = {}
        tidy: dict[str, list[str]] = {"blank": [], "utc": []}
        for name, info in cls.model_fields.items():
            for mark in info.metadata:
                if not isinstance(mark, _Lenient):
                    continue
                alias = info.validation_alias
                keys = alias.choices if isinstance(alias, AliasChoices) else [name]
                for key in keys:
                    careful[str(key)] = (mark.prepare, _child_model(info.annotation))
                if mark.tidy:
                    tidy[mark.tidy].append(name)
        cls._careful = careful
        cls._blank_fields, cls._utc_fields = tuple(tidy["blank"]), tuple(tidy["utc"])

    @model_validator(mode="after")
    def _tidy(self) -> Self:
        """One pass per object, in place of a Python validator per field (the costly part
        of parsing a page when there were thirteen per highlight)."""
        values = self.__dict__
        for name in self._blank_fields:
            text = values[name]
            if text is not None and (not text or text.isspace()):
                values[name] = None
        for name in self._utc_fields:
            moment = values[name]
            if moment is None:
                continue
            if moment.tzinfo is None:
                values[name] = moment.replace(tzinfo=UTC)
            elif moment.year < _MISREAD_BEFORE and _on_fast_path.get():
                raise ValueError(f"{name}: maybe a compact date read as a Unix time")
        return self

    @classmethod
    def _prepare(cls, data: Any) -> Any:
        """Decoded JSON readied for the careful path (see the module's notes)."""
        if not isinstance(data, dict):
            return data
        ready = dict(data)
        for key, (prepare, child) in cls._careful.items():
            if key in ready:
                value = prepare(ready[key])
                if child is not None and isinstance(value, list):
                    value = [child._prepare(item) for item in value]
                ready[key] = value
        return ready

    @classmethod
    def model_validate(cls, obj: Any, **kwargs: Any) -> Self:
        """Validate Python data the careful way: every string cleaned, each field prepared."""
        return super().model_validate(cls._prepare(_scrub_tree(obj)), **kwargs)

    @classmethod
    def parse_json(cls, raw: bytes) -> Self:
        """Validate JSON text; raises ``ValueError`` (not JSON) or ``ValidationError``."""
        if not _CR_ESCAPE.search(raw):
            on_fast_path = _on_fast_path.set(True)
            try:
                return cls.model_validate_json(raw)
            except ValidationError:
                # Not JSON pydantic accepts (a lone UTF-16 surrogate from a text cut in an
                # emoji: the stdlib decodes it, the cleaning repairs it), or a value the
                # native types refuse: the careful path decides, and raises if it must.
                pass
            finally:
                _on_fast_path.reset(on_fast_path)
        return cls.model_validate(json.loads(raw))


class Tag(_Model):
    """A tag on a book or a highlight. 2025 book tags carry an extra ``user_book`` key."""

    id: OptInt = None
    name: str


TagList = Annotated[list[Tag], _Lenient(_none_to_list)]


class Highlight(_Model):
    """One highlight as the export returns it (also accepts the ``/highlights/`` item shape)."""

    id: int
    text: str = ""
    note: OptText = None
    location: OptInt = None
    location_type: OptText = None
    color: OptText = None
    highlighted_at: Timestamp = None
    created_at: Timestamp = None
    # ``/highlights/`` calls it ``updated``; the export calls it ``updated_at``.
    updated_at: Timestamp = Field(
        default=None, validation_alias=AliasChoices("updated_at", "updated")
    )
    external_id: OptText = None
    end_location: OptInt = None
    url: OptText = None
    book_id: OptInt = None
    tags: TagList = []
    is_favorite: bool = False
    is_discard: bool = False
    is_deleted: bool = False
    readwise_url: OptText = None

    @property
    def is_live(self) -> bool:
        """True when the highlight belongs in a note: neither deleted nor discarded."""
        return not (self.is_deleted or self.is_discard)


class Book(_Model):
    """One document of the library ("book" in the API, whatever its category)."""

    user_book_id: int
    title: str = ""
    readable_title: OptText = None
    author: OptText = None
    source: OptText = None
    cover_image_url: OptText = None
    unique_url: OptText = None
    summary: OptText = None
    book_tags: TagList = []
    category: str = "books"
    document_note: OptText = None
    readwise_url: OptText = None
    source_url: OptText = None
    external_id: OptText = None
    asin: OptText = None
    is_deleted: bool = False
    highlights: Annotated[list[Highlight], _Lenient(_none_to_list)] = []
    _live: tuple[list[Highlight], list[Highlight]] | None = PrivateAttr(default=None)

    @property
    def display_title(self) -> str:
        """The cleaned title Readwise shows (subtitle dropped), else the full title."""
        return self.readable_title or self.title or "Untitled"

    def live_highlights(self) -> list[Highlight]:
        """Highlights that belong in the note, in reading order (a new list each call).

        The API does not promise an order, so sort by location; highlights without
        a location go last, and ties (and the location-less) keep creation order by id.
        """
        # Sorted once per highlights list: rendering and deciding ask several times a book.
        # (Nothing changes a highlight in place after parsing, so the list is the key.)
        cached = self._live
        if cached is None or cached[0] is not self.highlights:
            live = [h for h in self.highlights if h.is_live]
            live.sort(key=lambda h: (h.location is None, h.location or 0, h.id))
            cached = self._live = (self.highlights, live)
        return list(cached[1])


class ExportPage(_Model):
    """One page of ``GET /api/v2/export/``. ``count`` counts highlights, not books."""

    count: OptInt = None
    next_page_cursor: Annotated[str | None, BeforeValidator(_cursor_to_text)] = Field(
        default=None, validation_alias=AliasChoices("nextPageCursor", "next_page_cursor")
    )
    results: Annotated[list[Book], _Lenient(_none_to_list)] = []

    @classmethod
    def parse(cls, raw: bytes) -> ExportPage:
        """Parse a response body; raises ``ValueError`` (not JSON) or ``ValidationError``."""
        return cls.parse_json(raw)


class ReaderDocument(_Model):
    """A Reader (v3) list item: a document, or a highlight or note made in Reader."""

    id: str
    url: OptText = None
    title: OptText = None
    author: OptText = None
    source: OptText = None
    category: OptText = None
    location: OptText = None
    # A dict keyed by tag key in v3; ``null`` on highlight and note documents.
    tags: Annotated[dict[str, Any], BeforeValidator(lambda v: {} if v is None else v)] = {}
    site_name: OptText = None
    word_count: OptInt = None
    created_at: Timestamp = None
    updated_at: Timestamp = None
    # Milliseconds since the epoch in 2023-2025 data, "YYYY-MM-DD" in newer data.
    published_date: int | str | None = None
    summary: OptText = None
    image_url: OptText = None
    content: str | None = None
    source_url: OptText = None
    notes: OptText = None
    parent_id: OptText = None
    reading_progress: float | None = None
