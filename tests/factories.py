"""Libraries for the tests that need many books (the crash and race tests), and cron
expressions with their meaning spelled out (the timer and daemon schedule tests)."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime, timedelta


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


# Each cron expression with what crontab(5) means by it, as a test of one minute.
CRONS: list[tuple[str, Callable[[datetime], bool]]] = [
    (
        "*/20 9-17 * * mon-fri",
        lambda t: t.minute % 20 == 0 and 9 <= t.hour <= 17 and t.weekday() < 5,
    ),
    # both days restricted: either one matches (crontab(5)), not both
    (
        "0 9 1,15 * 0",
        lambda t: (t.minute, t.hour) == (0, 9) and (t.day in (1, 15) or t.weekday() == 6),
    ),
    # "*/2" starts with "*": not restricted, so both must match
    (
        "30 4 */2 * 7",
        lambda t: (t.minute, t.hour) == (30, 4) and t.day % 2 == 1 and t.weekday() == 6,
    ),
    ("15 */6 * jan,jul *", lambda t: t.minute == 15 and t.hour % 6 == 0 and t.month in (1, 7)),
    ("5 0 * * 5-7", lambda t: (t.minute, t.hour) == (5, 0) and t.weekday() >= 4),
    ("0,10-12 22 * * *", lambda t: t.minute in (0, 10, 11, 12) and t.hour == 22),
]


def cron_times(matches: Callable[[datetime], bool], after: datetime, count: int) -> list[datetime]:
    """The first ``count`` minutes after ``after`` that ``matches``, found one by one."""
    found, moment = [], after + timedelta(minutes=1)
    while len(found) < count:
        if matches(moment):
            found.append(moment)
        moment += timedelta(minutes=1)
    return found
