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
  (:meth:`ExportPage.parse`, ``model_validate``), not in a validator per field;
* one odd value costs nothing: a ``null`` title, text or category, a tag without a
  name (dropped) or given as a bare string, a fractional location (rounded down), a
  timestamp that is no date (none) is read leniently, with one warning per document;
  a record that can't be read (a book or highlight without an id) costs its book
  only: it is left out of its page and listed in :attr:`ExportPage.skipped`.

A page is read the careful way: decoded with the stdlib, every string cleaned, each field
prepared as its ``Lenient`` mark says (:mod:`lenient`), validated by the models, and
what they still refuse mended (:mod:`mending`). Nearly every page is ordinary, and
pydantic's own JSON parser gives the same models for it at a third of the cost; when
it may is :mod:`fastparse`'s to say.

``ReaderDocument`` covers the Reader (v3) list shape. Sync does not use it;
it exists so recorded v3 data can be read and checked.
"""

from __future__ import annotations

import json
import logging
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
from pydantic.fields import FieldInfo

from readwise_sync.readwise.fastparse import validate_json
from readwise_sync.readwise.lenient import (
    Lenient,
    as_text,
    blank_to_none,
    cursor_to_text,
    no_date,
    none_to_list,
    scrub_tree,
    tag_from_value,
    tag_list,
    to_utc,
    whole_number,
)
from readwise_sync.readwise.mending import (
    Mending,
    Reading,
    Repair,
    Rule,
    Schema,
    SkippedRecord,
    Unreadable,
)

__all__ = ["Book", "ExportPage", "Highlight", "ReaderDocument", "Repair", "SkippedRecord", "Tag"]

# Mending a page takes one round, or two when a mended value holds another to mend (one
# tag given as an object without a name); a third would be a bug, not data.
_MENDING_ROUNDS = 3
log = logging.getLogger(__name__)

OptText = Annotated[str | None, Lenient(blank_to_none, "blank", as_text)]
Text = Annotated[str, Lenient(mend=as_text)]
OptInt = Annotated[int | None, Lenient(blank_to_none, mend=whole_number)]
Timestamp = Annotated[datetime | None, Lenient(to_utc, "utc", no_date)]


def _child_model(annotation: Any) -> type[_Model] | None:
    """The model a ``list[Model]`` field holds, if any."""
    args = get_args(annotation)
    if get_origin(annotation) is list and args and isinstance(args[0], type):
        return args[0] if issubclass(args[0], _Model) else None
    return None


def _rule(info: FieldInfo) -> Rule:
    mark = next((m for m in info.metadata if isinstance(m, Lenient)), Lenient())
    child = _child_model(info.annotation)
    required = info.is_required()
    default = None if required else info.get_default(call_default_factory=True)
    schema = child._schema if child is not None else None
    return Rule(mark.prepare, mark.mend, required, default, schema)


class _Model(BaseModel):
    # extra="ignore": the API gains keys over time (resurface_weighting, ...).
    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=False)
    # How a record of the class is read; its schema and the fields to tidy are made from
    # it and the fields' Lenient marks, per class (see __pydantic_init_subclass__).
    _reading: ClassVar[Reading] = Reading("record")
    _schema: ClassVar[Schema] = Schema(Reading("record"), {})
    _blank_fields: ClassVar[tuple[str, ...]] = ()
    _utc_fields: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        rules: dict[str, Rule] = {}
        tidy: dict[str, list[str]] = {"blank": [], "utc": []}
        for name, info in cls.model_fields.items():
            alias = info.validation_alias
            keys = alias.choices if isinstance(alias, AliasChoices) else [name]
            rules.update(dict.fromkeys(map(str, keys), _rule(info)))
            for mark in info.metadata:
                if isinstance(mark, Lenient) and mark.tidy:
                    tidy[mark.tidy].append(name)
        cls._schema = Schema(cls._reading, rules)
        cls._blank_fields, cls._utc_fields = tuple(tidy["blank"]), tuple(tidy["utc"])

    @model_validator(mode="after")
    def _tidy(self) -> Self:
        """Blank texts ``None``, naive timestamps UTC: what preparing does on the careful way,
        so that pydantic's own parser (:mod:`fastparse`) gives the same models. One pass
        per object, as a Python validator per field made parsing slow."""
        values = self.__dict__
        for name in self._blank_fields:
            text = values[name]
            if text is not None and (not text or text.isspace()):
                values[name] = None
        for name in self._utc_fields:
            moment = values[name]
            if moment is not None and moment.tzinfo is None:
                values[name] = moment.replace(tzinfo=UTC)
        return self

    @classmethod
    def model_validate(cls, obj: Any, **kwargs: Any) -> Self:
        """Validate Python data the careful way: every string cleaned, each field prepared,
        and what validation refuses mended (one warning per document that needed it)."""
        data = cls._schema.prepare(scrub_tree(obj))
        mending = Mending()
        for rounds in range(_MENDING_ROUNDS + 1):
            try:
                model = super().model_validate(data, **kwargs)
            except ValidationError as exc:
                if rounds == _MENDING_ROUNDS:
                    raise
                try:
                    data = mending.mend(cls._schema, data, exc.errors(include_url=False))
                except Unreadable:
                    raise exc from None
                continue
            model._mended(mending)
            return model
        raise AssertionError("unreachable: the last round returns or raises")

    def _mended(self, mending: Mending) -> None:
        for repair in mending.repairs():
            log.warning("%s", repair)

    @classmethod
    def parse_json(cls, raw: bytes) -> Self:
        """Validate JSON text; raises ``ValueError`` (not JSON) or ``ValidationError``."""
        parsed = validate_json(cls.model_validate_json, raw)
        return parsed if parsed is not None else cls.model_validate(json.loads(raw))


class Tag(_Model):
    """A tag on a book or a highlight. 2025 book tags carry an extra ``user_book`` key."""

    # One without a name is dropped; a bare name ("tags": ["blue"]) is a tag of that name.
    _reading = Reading("tag", "drop", mend_item=tag_from_value)
    id: OptInt = None
    name: Text


TagList = Annotated[list[Tag], Lenient(none_to_list, mend=tag_list)]


class Highlight(_Model):
    """One highlight as the export returns it (also accepts the ``/highlights/`` item shape)."""

    # One that can't be read (no id) makes its book unreadable: the sync must not take
    # a highlight it can't see for one deleted.
    _reading = Reading("highlight")
    id: int
    text: Text = ""
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

    _reading = Reading("book", "skip", "user_book_id", document=True)
    user_book_id: int
    title: Text = ""
    readable_title: OptText = None
    author: OptText = None
    source: OptText = None
    cover_image_url: OptText = None
    unique_url: OptText = None
    summary: OptText = None
    book_tags: TagList = []
    category: Text = "books"
    document_note: OptText = None
    readwise_url: OptText = None
    source_url: OptText = None
    external_id: OptText = None
    asin: OptText = None
    is_deleted: bool = False
    highlights: Annotated[list[Highlight], Lenient(none_to_list)] = []
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
    """One page of ``GET /api/v2/export/``. ``count`` counts highlights, not books.

    ``skipped``: the records of the page that could not be read (no id), left out of
    ``results``; ``repaired``: the documents with odd values read leniently, one warning
    each. Both are empty for nearly every page.
    """

    _reading = Reading("the export page", id_key="")
    count: OptInt = None
    next_page_cursor: Annotated[str | None, BeforeValidator(cursor_to_text)] = Field(
        default=None, validation_alias=AliasChoices("nextPageCursor", "next_page_cursor")
    )
    results: Annotated[list[Book], Lenient(none_to_list)] = []
    _skipped: list[SkippedRecord] = PrivateAttr(default_factory=list)
    _repaired: list[Repair] = PrivateAttr(default_factory=list)

    @classmethod
    def parse(cls, raw: bytes) -> ExportPage:
        """Parse a response body; raises ``ValueError`` (not JSON) or ``ValidationError``
        (only when the page as a whole can't be read: a record that can't be is skipped)."""
        return cls.parse_json(raw)

    @property
    def skipped(self) -> list[SkippedRecord]:
        return list(self._skipped)

    @property
    def repaired(self) -> list[Repair]:
        return list(self._repaired)

    def _mended(self, mending: Mending) -> None:
        super()._mended(mending)
        self._skipped, self._repaired = list(mending.skipped), mending.repairs()


class ReaderDocument(_Model):
    """A Reader (v3) list item: a document, or a highlight or note made in Reader."""

    _reading = Reading("Reader document", document=True)
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
