"""How odd values of the API are read: the careful path's cleaning, preparing and mending.

:mod:`wire` sends here what pydantic's own parser can't take as it is (see :mod:`fastparse`):

* cleaning (:func:`scrub_tree`): lone surrogates become U+FFFD and every line end a
  plain ``\\n``, in every string of the decoded JSON;
* preparing: each field with a :class:`Lenient` mark is readied as it says (blank text
  is ``None``, a timestamp is parsed, a ``null`` list is empty);
* mending, only for a value validation still refuses (see :mod:`mending` for the walk):
  read leniently where it can be (a fraction rounded down, a number as text, a bare
  string as a tag), else as none or its field's default, with a phrase saying how.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

_SURROGATE = re.compile("[\ud800-\udfff]")
MISSING = object()  # a key the record does not have
_SHOWN = 40  # characters of an odd value quoted in a warning


def scrub_text(value: Any) -> Any:
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


def scrub_tree(value: Any) -> Any:
    """:func:`scrub_text` applied to every string in decoded JSON (keys included)."""
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, dict):
        return {scrub_text(k): scrub_tree(v) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub_tree(item) for item in value]
    return value


# -- preparing: what a field's raw value becomes before validation ---------------------------


def blank_to_none(value: Any) -> Any:
    """Map ``""`` (and whitespace-only strings) to ``None``: the API uses both for "nothing"."""
    if isinstance(value, str) and not value.strip():
        return None
    return value


def to_utc(value: Any) -> Any:
    """Parse timestamps; a timestamp without an offset is UTC, as the API documents.
    What is no ISO timestamp is left for pydantic to accept or refuse: a number, or a
    string of digits that is no compact ISO date, is a Unix time to it."""
    value = blank_to_none(value)
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


def none_to_list(value: Any) -> Any:
    return [] if value is None else value


def cursor_to_text(value: Any) -> Any:
    """``nextPageCursor`` is an int in real data and "a string" in the docs: keep it as text."""
    value = blank_to_none(value)
    if value is None or value is False or value == 0:
        return None
    return str(value)


# -- mending: what a refused value is read as ------------------------------------------------

# A mend returns the value to use and how it was read, or None: then the field's default.
Mend = Callable[[Any], tuple[Any, str] | None]


def show(value: Any) -> str:
    """An odd value as a warning quotes it: JSON, cut short."""
    if value is MISSING:
        return "missing"
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def as_text(value: Any) -> tuple[Any, str] | None:
    """A number where text belongs is that number written out (a title ``1984``)."""
    if _is_number(value) and math.isfinite(value):
        return str(value), f"{show(value)} read as text"
    return None


def whole_number(value: Any) -> tuple[Any, str] | None:
    """A fraction (``12.5``, ``"12.5"``) rounded down: locations link and sort by whole
    numbers, and rounding down keeps the reading order; what is no number is none."""
    number = value
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None, f"{show(value)} is no number, read as none"
    if _is_number(number) and math.isfinite(number):
        whole = math.floor(number)
        return whole, f"{show(value)} read as {whole}"
    return None, f"{show(value)} is no number, read as none"


def no_date(value: Any) -> tuple[Any, str] | None:
    return None, f"{show(value)} is no date, read as none"


def tag_list(value: Any) -> tuple[Any, str] | None:
    """Tags given as one string or one object rather than a list of them."""
    if isinstance(value, str) and value.strip():
        return [{"name": value}], f"{show(value)} read as a tag named {value}"
    if isinstance(value, dict):
        return [value], "one tag, not a list of them, read as a list of one"
    return [], f"{show(value)} is no list of tags, read as none"


def tag_from_value(value: Any) -> tuple[Any, str] | None:
    """A tag given as its bare name (``"tags": ["blue"]``)."""
    if isinstance(value, str) and value.strip():
        return {"name": value}, f"{show(value)} read as a tag named {value}"
    if _is_number(value) and math.isfinite(value):
        return {"name": str(value)}, f"{show(value)} read as a tag named {value}"
    return None


@dataclass(frozen=True)
class Lenient:
    """A field the API is loose about. ``prepare`` readies its raw value on the careful
    path; ``tidy`` is what the one pass after validation does to it on every path:
    ``"blank"`` (blank text is None) or ``"utc"`` (a naive timestamp is UTC); ``mend``
    reads a value validation refused (see :data:`Mend`)."""

    prepare: Callable[[Any], Any] | None = None
    tidy: str = ""
    mend: Mend | None = None
