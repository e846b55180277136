"""Libraries for the tests that need many books (the crash and race tests)."""

from __future__ import annotations

import random


def library(rng: random.Random, count: int) -> list[dict[str, object]]:
    """``count`` books of 1 to 5 highlights each (ids ``book_id * 100 + n``), some with
    notes and tags, in the three main categories."""
    books = []
    for book_id in range(1, count + 1):
        highlights = [
            {
                "id": book_id * 100 + n,
                "text": f"Highlight {n} of book {book_id}. " + "lorem ipsum " * rng.randint(1, 30),
                "note": "a note\nover two lines" if rng.random() < 0.2 else "",
                "location": n * 10,
                "location_type": "location",
                "highlighted_at": "2024-05-01T10:00:00Z",
                "updated_at": "2024-05-01T10:00:00Z",
                "tags": [{"id": 1, "name": "tagged"}] if rng.random() < 0.2 else [],
                "url": None,
            }
            for n in range(1, rng.randint(2, 6))
        ]
        books.append(
            {
                "user_book_id": book_id,
                "title": f"Book {book_id}: a title",
                "readable_title": f"Book {book_id}",
                "author": f"Author {book_id % 37}",
                "category": rng.choice(["books", "articles", "podcasts"]),
                "asin": f"B{book_id:09d}",
                "highlights": highlights,
            }
        )
    return books
