"""Mending a record validation refused, and what that costs: a value, a tag, a document.

:mod:`wire` describes each of its classes as a :class:`Schema` (its fields' rules and
how a record of it is read) and hands over the validation errors; :class:`Mending`
walks them through the data. A refused value is read as its field's mark says
(:mod:`lenient`), else as its default, and noted for its document's one warning
(:class:`Repair`); a required value that can't be read makes its record unreadable,
which costs what its :class:`Reading` says: a tag is dropped, a book is left out of its
page as a :class:`SkippedRecord` (the rest of the page stands), a highlight takes its
book with it. Only what can't be read alone (a page whose ``results`` is no list, a
book read on its own without an id) is still an error.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from readwise_sync.readwise.lenient import MISSING, Mend, show

_SHOWN = 100  # characters of a title quoted in a message

# -- what wire tells of its classes ------------------------------------------------------------


@dataclass(frozen=True)
class Reading:
    """How a kind of record is read. ``unreadable``: what a record that can't be read
    costs inside a list: ``"drop"`` it (a tag), ``"skip"`` it and say so (a book), or
    ``"raise"`` (its container can't be read either: a highlight's book)."""

    name: str
    unreadable: Literal["drop", "skip", "raise"] = "raise"
    id_key: str = "id"
    document: bool = False  # its odd values make one warning
    mend_item: Mend | None = None  # an item of its list that is no object


@dataclass(frozen=True)
class Rule:
    """One raw key of a record: how it is prepared and mended, whether a value is
    required, its default, and the schema of the records its list holds."""

    prepare: Callable[[Any], Any] | None
    mend: Mend | None
    required: bool
    default: Any
    child: Schema | None


@dataclass(frozen=True)
class Schema:
    """A model class as mending sees it: how its records are read, and a rule per raw
    key (an alias is a key of its own)."""

    reading: Reading
    rules: dict[str, Rule]
    prepared: tuple[tuple[str, Rule], ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # Only the marked keys, as the careful path prepares every record of a page.
        marked = tuple((key, rule) for key, rule in self.rules.items() if rule.prepare)
        object.__setattr__(self, "prepared", marked)

    def prepare(self, data: Any) -> Any:
        """Decoded JSON readied for validation (see the module's notes)."""
        if not isinstance(data, dict):
            return data
        ready = dict(data)
        for key, rule in self.prepared:
            if key in ready and rule.prepare is not None:
                value = rule.prepare(ready[key])
                if rule.child is not None and isinstance(value, list):
                    value = [rule.child.prepare(item) for item in value]
                ready[key] = value
        return ready

    def label(self, item: Any, index: int | None = None) -> str:
        """The record as a message names it: ``book 7 ("Walden")``, ``highlight 70``, or
        by its place in its list when it has no id: ``highlight #2``."""
        reading = self.reading
        if not reading.id_key:
            return reading.name
        ident = record_id(item, reading.id_key)
        title = _title(item) if reading.document else None
        named = f' ("{title}")' if title else ""
        if ident is not None:
            return f"{reading.name} {ident}{named}"
        if index is not None:
            return f"{reading.name} #{index + 1}{named}"
        return f"a {reading.name} with no id{named}"


def record_id(item: Any, key: str) -> int | None:
    ident = item.get(key) if isinstance(item, dict) else None
    if isinstance(ident, str) and ident.strip().isascii() and ident.strip().isdigit():
        return int(ident)
    return ident if isinstance(ident, int) and not isinstance(ident, bool) else None


def _title(item: Any) -> str | None:
    for key in ("title", "readable_title"):
        value = item.get(key) if isinstance(item, dict) else None
        if isinstance(value, str) and value.strip():
            return value if len(value) <= _SHOWN else value[: _SHOWN - 1] + "…"
    return None


# -- the results -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SkippedRecord:
    """A record of the page that can't be read: left out, the rest of the page stands.
    ``book_id`` is the document's when it can be read (its highlight had no id, say)."""

    book_id: int | None
    what: str  # 'book 7 ("Walden")', or by its place on the page: 'book #3 ("Walden")'
    why: str  # "no user_book_id", 'user_book_id "abc" can't be read', "highlight #2: no id"

    def __str__(self) -> str:
        return f"{self.what}: {self.why}"


@dataclass(frozen=True)
class Repair:
    """The odd values of one document, as its one warning tells them."""

    book_id: int | None
    what: str
    fixes: tuple[str, ...]  # "highlights.location 12.5 read as 12 (highlight 70)"

    def __str__(self) -> str:
        return f"{self.what}: odd values read leniently: {'; '.join(self.fixes)}"


class Unreadable(Exception):
    """A record mending can't save; its container decides what that costs."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


@dataclass(frozen=True)
class _Fix:
    field: str
    how: str
    record: str = ""
    left_out: bool = False  # a record dropped, told apart from a value read


@dataclass
class _Node:
    """The validation errors under one place of the data, by key or index."""

    errors: list[Mapping[str, Any]] = field(default_factory=list)
    children: dict[str | int, _Node] = field(default_factory=dict)


def _tree(errors: Sequence[Mapping[str, Any]]) -> _Node:
    root = _Node()
    for error in errors:
        node = root
        for part in error["loc"]:
            node = node.children.setdefault(part, _Node())
        node.errors.append(error)
    return root


def _first(node: _Node) -> Mapping[str, Any]:
    """The first error at or under ``node`` (a union's members each add a level)."""
    while not node.errors:
        node = next(iter(node.children.values()))
    return node.errors[0]


def _default_text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if value is None:
        return "none"
    return "empty" if value in ("", []) else show(value)


def _summary(fixes: list[_Fix]) -> tuple[str, ...]:
    """One phrase per field (values read, records left out): the first and where, and
    how many more."""
    by_field: dict[tuple[str, bool], list[_Fix]] = {}
    for fix in fixes:
        by_field.setdefault((fix.field, fix.left_out), []).append(fix)
    phrases = []
    for (name, _), group in by_field.items():
        where = [group[0].record] if group[0].record else []
        if len(group) > 1:
            where.append(f"and {len(group) - 1} more")
        phrases.append(f"{name} {group[0].how}" + (f" ({', '.join(where)})" if where else ""))
    return tuple(phrases)


class Mending:
    """One validation's mending, round after round: the records left out, and the
    documents' odd values, kept for their warnings until the validation succeeds."""

    def __init__(self) -> None:
        self.skipped: list[SkippedRecord] = []
        self._fixes: dict[str, tuple[int | None, list[_Fix]]] = {}

    def mend(self, schema: Schema, data: Any, errors: Sequence[Mapping[str, Any]]) -> Any:
        """``data`` with what ``errors`` point at mended (a new object: ``data`` is left
        as it is); raises :class:`Unreadable` when ``data`` can't be read at all."""
        fixes: list[_Fix] = []
        mended = self._record(schema, data, _tree(errors), fixes, "", "")
        self._keep(schema, mended, fixes)
        return mended

    def repairs(self) -> list[Repair]:
        kept = self._fixes.items()
        return [Repair(ident, what, _summary(fixes)) for what, (ident, fixes) in kept]

    def _keep(self, schema: Schema, item: Any, fixes: list[_Fix]) -> None:
        if fixes:
            ident = record_id(item, schema.reading.id_key) if schema.reading.document else None
            self._fixes.setdefault(schema.label(item), (ident, []))[1].extend(fixes)

    def _record(
        self, schema: Schema, obj: Any, node: _Node, fixes: list[_Fix], prefix: str, record: str
    ) -> dict[str, Any]:
        if not isinstance(obj, dict):
            raise Unreadable(f"{show(obj)} is not an object")
        if node.errors:  # a check of the whole record (none on this path today)
            raise Unreadable(str(node.errors[0]["msg"]))
        mended = dict(obj)
        for part, below in node.children.items():
            key = str(part)
            rule = schema.rules.get(key)
            if rule is None:
                raise Unreadable(f"{key}: {_first(below)['msg']}")
            if rule.child is not None and not below.errors:
                items = obj.get(key)
                mended[key] = self._items(rule.child, items, below, fixes, f"{prefix}{key}.")
            else:
                self._value(rule, mended, key, _first(below), fixes, (prefix, record))
        return mended

    @staticmethod
    def _value(
        rule: Rule,
        mended: dict[str, Any],
        key: str,
        error: Mapping[str, Any],
        fixes: list[_Fix],
        where: tuple[str, str],
    ) -> None:
        value = mended.get(key, MISSING)
        if error["type"] == "missing":
            raise Unreadable(f"no {key}")
        read = rule.mend(value) if rule.mend is not None else None
        if read is None and (rule.required or rule.child is not None):
            raise Unreadable(f"{key} {show(value)} can't be read")
        if read is None:
            del mended[key]  # so the field's default applies
            read = (rule.default, f"{show(value)} read as {_default_text(rule.default)}")
        else:
            mended[key] = read[0]
        fixes.append(_Fix(where[0] + key, read[1], where[1]))

    def _items(
        self, child: Schema, items: Any, node: _Node, fixes: list[_Fix], prefix: str
    ) -> list[Any]:
        if not isinstance(items, list):
            raise Unreadable(f"{prefix[:-1]} {show(items)} is not a list")
        mended = list(items)
        left_out: set[int] = set()
        for index, below in node.children.items():
            if not isinstance(index, int) or not 0 <= index < len(items):
                raise Unreadable(f"{prefix[:-1]}: {_first(below)['msg']}")
            try:
                mended[index] = self._item(child, items[index], below, fixes, prefix, index)
            except Unreadable as exc:
                left_out.add(index)
                self._leave_out(child, items[index], index, exc, fixes, prefix)
        return [item for i, item in enumerate(mended) if i not in left_out]

    def _item(
        self, child: Schema, item: Any, node: _Node, fixes: list[_Fix], prefix: str, index: int
    ) -> Any:
        mend_item = child.reading.mend_item
        if not isinstance(item, dict) and mend_item is not None:
            read = mend_item(item)
            if read is None:
                raise Unreadable(f"{show(item)} is no {child.reading.name}")
            fixes.append(_Fix(prefix[:-1], read[1]))
            return read[0]
        if child.reading.document:
            own: list[_Fix] = []
            mended = self._record(child, item, node, own, "", "")
            self._keep(child, mended, own)
            return mended
        return self._record(child, item, node, fixes, prefix, child.label(item, index))

    def _leave_out(
        self, child: Schema, item: Any, index: int, exc: Unreadable, fixes: list[_Fix], prefix: str
    ) -> None:
        what = child.label(item, index)
        if child.reading.unreadable == "raise":
            raise Unreadable(f"{what}: {exc.why}") from None
        if child.reading.unreadable == "skip":
            self.skipped.append(SkippedRecord(record_id(item, child.reading.id_key), what, exc.why))
            self._fixes.pop(child.label(item), None)  # moot: the record is not read
        else:
            fixes.append(_Fix(prefix[:-1], f"left out: {exc.why}", what, left_out=True))
