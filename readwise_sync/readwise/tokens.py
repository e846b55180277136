"""What a Readwise token must be to go into an HTTP header: checked before any request.

Apart from the client so that checking a token (at ``init``, when the settings are read)
loads no HTTP library.
"""

from __future__ import annotations


def token_problem(token: str) -> str | None:
    """What in ``token`` can't go into an HTTP header, in words (never the token itself)."""
    for char in token:
        if char in "\r\n":
            return "a line break"
        if char == "\u00a0":
            return "a non-breaking space"
        if char.isspace():
            return "a space or tab"
        if not "!" <= char <= "~":
            return "a non-ASCII character" if ord(char) > 127 else "a control character"
    return None
