"""Hostile input, property-based: the nastiest titles, authors, tags, notes and texts, synced.

For every input: the note lies inside the vault under a name legal on Windows, macOS and
Linux; its frontmatter parses back to exactly the document's values; text the user adds
survives a later merge; a highlight's text can't forge the structure the merge relies on
(each live highlight appears exactly once after the merge); and a further sync changes
nothing. READWISE_SYNC_HYPOTHESIS_EXAMPLES sets the number of examples: 120 by default,
sized for the default run; a long run takes 2000 or more.
"""

from __future__ import annotations

import os
import tempfile
import unicodedata
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from readwise_sync.app.config import Settings
from readwise_sync.app.wiring import sync_once
from readwise_sync.readwise.client import ReadwiseClient
from readwise_sync.readwise.fakeapi import FakeReadwise
from readwise_sync.readwise.wire import Book

from .conftest import TOKEN

pytestmark = pytest.mark.slow  # -m 'not slow' leaves it out

EXAMPLES = int(os.environ.get("READWISE_SYNC_HYPOTHESIS_EXAMPLES", "120"))
NASTY = [
    "---",
    "## Highlights",
    "# Title",
    "[[",
    "]]",
    "%%",
    "^block",
    "- ",
    "  - Note: ",
    "\n",
    "\r\n",
    "\n\n",
    "\x00",
    "\x1b",
    "\u202e",
    "\u200f",
    "\u0301",
    "🧵",
    "👩‍👩‍👧",
    "\u2028",
    "\u0085",
    "\ufeff",
    ":",
    ": ",
    "#",
    "'",
    '"',
    "\\",
    "{{ title }}",
    "{% if x %}",
    "|",
    "*",
    "?",
    "<",
    ">",
    "/",
    "..",
    "CON",
    "NUL",
    " ",
    ".",
    "yes",
    "null",
    "~",
    "@",
    "`",
    "\t",
]
fragment = st.one_of(st.sampled_from(NASTY), st.text(max_size=12))
nasty_text = st.lists(fragment, max_size=12).map("".join)
long_text = st.builds(
    lambda s, n: s * n, st.sampled_from(["é", "a", "🧵", "x/"]), st.integers(1, 400)
)
field = st.one_of(nasty_text, long_text)


def book_with(
    title: str, author: str, category: str, tags: list[str], texts: list[str], notes: list[str]
) -> dict[str, Any]:
    return {
        "user_book_id": 4242,
        "title": title,
        "readable_title": title,
        "author": author,
        "category": category,
        "book_tags": [{"id": i, "name": t} for i, t in enumerate(tags)],
        "highlights": [
            {
                "id": 100 + i,
                "text": f"Hk{i}: {text}",
                "note": notes[i % len(notes)] if notes else "",
                "location": i,
                "location_type": "page",
                "updated_at": "2024-01-01T00:00:00Z",
                "highlighted_at": "2024-01-01T12:00:00Z",
                "tags": [{"id": 9, "name": tags[0]}] if tags else [],
            }
            for i, text in enumerate(texts)
        ],
    }


def only_note(vault: Path) -> Path:
    (note,) = [p for p in vault.rglob("*") if p.is_file() and p.suffix == ".md"]
    return note


def assert_legal_name(vault: Path, note: Path) -> None:
    assert note.resolve().is_relative_to(vault.resolve())
    for part in note.relative_to(vault).parts:
        assert len(part.encode("utf-8")) <= 200
        assert not set(part) & set('/\\:*?"<>|#^[]')
        assert not any(unicodedata.category(c) == "Cc" for c in part)
        assert not part.startswith(".") and not part.endswith((".", " "))
        assert part.split(".")[0].strip().upper() not in {"CON", "PRN", "AUX", "NUL"}


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    # The same examples every default run; a run with the variable set explores new ones.
    derandomize="READWISE_SYNC_HYPOTHESIS_EXAMPLES" not in os.environ,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    title=field,
    author=field,
    category=st.sampled_from(["books", "articles", "tweets", "podcasts", "supplementals"]),
    tags=st.lists(nasty_text.filter(bool), max_size=3),
    texts=st.lists(field, min_size=1, max_size=4),
    notes=st.lists(field, max_size=2),
    user_text=nasty_text.filter(lambda s: s.strip() and "\r" not in s),
)
def test_hostile_documents_sync_safely(
    title: str,
    author: str,
    category: str,
    tags: list[str],
    texts: list[str],
    notes: list[str],
    user_text: str,
) -> None:
    raw = book_with(title, author, category, tags, texts, notes)
    book = Book.model_validate(raw)
    with (
        tempfile.TemporaryDirectory() as tmp,
        FakeReadwise([raw], token=TOKEN) as fake,
        # One client for the example's three syncs: a client a sync makes builds its own
        # TLS context, most of an example's time.
        ReadwiseClient(TOKEN, fake.url, timeout=30, max_retries=0) as client,
    ):
        vault = Path(tmp) / "vault"
        vault.mkdir()
        conf = Settings(
            vault=vault,
            token=TOKEN,
            api_url=fake.url,
            state_dir=Path(tmp) / "s",
            timezone="UTC",
            retries=0,
        )
        sync_once(conf, client=client)
        note = only_note(vault)
        assert_legal_name(vault, note)
        text = note.read_text(encoding="utf-8")
        meta = yaml.safe_load(text.split("---\n", 2)[1])
        assert meta["title"] == (book.title or "Untitled")
        if book.author:
            assert meta["author"] == f"[[{book.author}]]"
        assert meta["tags"] == [book.category, "literature-note"]

        # The user writes in the note; Readwise gets a new highlight and an edit.
        marker = f"USER-TEXT<{user_text}>"
        note.write_text(text + "\n" + marker + "\n", encoding="utf-8")
        fake.add_highlight(4242, id=900, text=f"Hk9: {texts[0]}", location=99, location_type="page")
        fake.update_highlight(100, text=f"Hk0: edited {texts[-1]}")
        sync_once(conf, client=client)
        assert only_note(vault) == note
        merged = note.read_text(encoding="utf-8")
        assert marker in merged
        for label in [f"Hk{i}: " for i in range(1, len(texts))] + ["Hk9: ", "Hk0: edited "]:
            assert merged.count(label) == 1, (label, merged)
        assert "Hk0: " not in merged.replace("Hk0: edited ", "")

        again = sync_once(conf, full=True, client=client)
        assert again.created == [] and again.updated == []
        assert note.read_text(encoding="utf-8") == merged
