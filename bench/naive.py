"""The floor: the simplest exporter that produces the same kind of notes.

Fetch each export page with urllib, format each book with plain string
formatting, write one file per book with ``open().write()``. No state, no
validation, no templates, no atomic writes, no merge, no retries: everything
readwise-sync does on top of this is what the benchmark's ratio pays for.

Usage: python bench/naive.py API_URL TOKEN OUT_FOLDER
"""

from __future__ import annotations

import json
import os
import re
import sys
import urllib.parse
import urllib.request


def fetch_pages(api_url: str, token: str):
    cursor = None
    while True:
        query = {"pageCursor": cursor} if cursor else {}
        url = f"{api_url}/api/v2/export/?{urllib.parse.urlencode(query)}"
        request = urllib.request.Request(url, headers={"Authorization": f"Token {token}"})
        with urllib.request.urlopen(request) as response:
            page = json.load(response)
        yield page
        cursor = page.get("nextPageCursor")
        if not cursor:
            return


def render(book: dict) -> str:
    author = book.get("author") or ""
    title = book.get("title") or ""
    lines = [
        "---",
        f'author: "[[{author}]]"',
        f'title: "{title}"',
        "tags: ",
        f"- {book.get('category')}",
        "- literature-note",
        "---",
    ]
    if book.get("cover_image_url"):
        lines.append(f"![rw-book-cover]({book['cover_image_url']})")
    lines += ["", "## Metadata", f"- Author: [[{author}]]", f"- Full Title: {title}"]
    if book.get("source_url"):
        lines.append(f"- URL: {book['source_url']}")
    lines += ["", "## Highlights"]
    for hl in book.get("highlights") or []:
        if hl.get("is_deleted") or hl.get("is_discard"):
            continue
        link = f" ([View Highlight]({hl['url']}))" if hl.get("url") else ""
        lines.append(f"- {hl['text']}{link}")
        if hl.get("note"):
            lines.append(f"    - Note: {hl['note']}")
    return "\n".join(lines) + "\n"


def main() -> None:
    api_url, token, out = sys.argv[1:4]
    folder = os.path.join(out, "Readwise")
    os.makedirs(folder, exist_ok=True)
    written = 0
    for page in fetch_pages(api_url.rstrip("/"), token):
        for book in page["results"]:
            name = re.sub(r'[\\/:*?"<>|#^\[\]]', "", book.get("title") or "Untitled")[:100]
            path = os.path.join(folder, f"{name} {book['user_book_id']}.md")
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(render(book))
            written += 1
    print(written)


if __name__ == "__main__":
    main()
