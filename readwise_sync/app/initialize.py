"""A new user's set-up (``readwise-sync init``), the demo's guard, the fake server's library.

``init`` checks the vault and the token before it writes anything, then writes a config
file naming the vault and a token file readable only by the user, so that ``sync`` and a
background service (which never sees the shell's environment) find both with no option.
Every file is written whole under a temporary name and renamed into place: a crash leaves
the old file or the new one, and the token file is never readable by others, not even for
a moment. No prompting here: the command line asks, this module checks and writes.
"""

from __future__ import annotations

import copy
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from readwise_sync.app.config import DEFAULT_API_URL, token_problem
from readwise_sync.app.locations import default_config_file
from readwise_sync.errors import ConfigError, ReadwiseSyncError, TokenRejected
from readwise_sync.readwise.fakeapi import Book, FakeReadwise
from readwise_sync.store import durable

TOKEN_PAGE = "https://readwise.io/access_token"
# The folder where the demo keeps its state; a folder holding it is one the demo made.
DEMO_STATE = ".readwise-sync"


@dataclass(frozen=True)
class Target:
    """Where ``init`` writes: the config file and the token file beside it."""

    config: Path
    token_file: Path
    default: bool  # the config is the one every command reads without --config

    @classmethod
    def choose(cls, explicit: Path | None, env: Mapping[str, str], *, force: bool) -> Target:
        """``--config``, else READWISE_SYNC_CONFIG, else the default config file (the
        order every command reads it in); refuses files already there unless ``force``."""
        named = explicit or (
            Path(env["READWISE_SYNC_CONFIG"]) if env.get("READWISE_SYNC_CONFIG") else None
        )
        config = Path(os.path.abspath(named.expanduser())) if named else default_config_file()
        # Two configs side by side (two vaults) each get a token file of their own.
        name = "token" if config.name == "config.toml" else f"{config.stem}.token"
        name = f"{config.name}.token" if name == config.name else name
        target = cls(config, config.with_name(name), config == default_config_file())
        if not force:
            for path in (target.config, target.token_file):
                if path.exists() or path.is_symlink():
                    raise ConfigError(f"{path} already exists; pass --force to replace it")
        return target


def check_vault(raw: Path) -> tuple[Path, str | None]:
    """The vault's absolute path, and a warning when it doesn't look like an Obsidian vault."""
    path = raw.expanduser()
    if not path.exists():
        raise ConfigError(f"vault: {path} does not exist (create the vault in Obsidian first)")
    if not path.is_dir():
        raise ConfigError(f"vault: {path} is not a folder")
    root = path.resolve()
    if not os.access(root, os.W_OK | os.X_OK):
        raise ConfigError(f"vault: {root} is not writable by you")
    if (root / ".obsidian").is_dir():
        return root, None
    return root, f"warning: {root} has no .obsidian folder; is it an Obsidian vault?"


def api_url_for(option: str | None, env: Mapping[str, str]) -> str:
    """The API a sync from this shell would use: ``--api-url``, READWISE_API_URL, Readwise."""
    url = (option or env.get("READWISE_API_URL") or DEFAULT_API_URL).rstrip("/")
    if not url.startswith(("https://", "http://")):
        raise ConfigError(f"api_url: {url!r} is not an http(s) URL")
    return url


def check_token(token: str, api_url: str) -> str:
    """The token, stripped, once ``api_url`` accepted it. Rejected: TokenRejected (exit 3);
    no answer: the client's error (exit 1). Either way nothing has been written."""
    from readwise_sync.readwise.client import ReadwiseClient

    token = token.strip()
    if not token:
        raise ConfigError(f"token: empty; get yours at {TOKEN_PAGE}")
    if problem := token_problem(token):
        raise ConfigError(f"token: it has {problem} in it; copy it again from {TOKEN_PAGE}")
    try:
        with ReadwiseClient(token, api_url, timeout=15, max_retries=1) as client:
            client.check_token()
    except TokenRejected:
        raise TokenRejected(
            f"token rejected by {api_url}; nothing written (copy it again from {TOKEN_PAGE})"
        ) from None
    except ReadwiseSyncError as exc:
        exc.args = (f"cannot check the token with {api_url}, nothing written: {exc}",)
        raise
    return token


def toml_string(value: str) -> str:
    """``value`` as a TOML basic string, whatever characters it holds."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ConfigError(f"{value!r} is not valid UTF-8, which a TOML file can't hold") from None
    out = []
    for char in value:
        if char in '"\\':
            out.append("\\" + char)
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04X}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def config_text(vault: Path, token_file: Path, api_url: str) -> str:
    """The config ``init`` writes; ``api_url`` only when it isn't Readwise's own."""
    lines = [
        "# Written by `readwise-sync init`. Every key is described in config.example.toml.",
        f"vault = {toml_string(str(vault))}",
        f"token_file = {toml_string(str(token_file))}",
    ]
    if api_url != DEFAULT_API_URL:
        lines.append(f"api_url = {toml_string(api_url)}")
    return "\n".join(lines) + "\n"


def write_private(path: Path, text: str, *, replace: bool) -> None:
    """Write ``path`` whole, mode 0600 from its creation (mkstemp's), by a rename; without
    ``replace`` a file that appeared there meanwhile is kept (ConfigError)."""
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if replace or not durable.rename_noreplace(temp, str(path)):
            os.replace(temp, path)  # also where no-replace renames don't exist (checked before)
    except FileExistsError:
        raise ConfigError(f"{path} appeared meanwhile; pass --force to replace it") from None
    finally:
        if os.path.exists(temp):
            os.unlink(temp)
    durable.fsync_folders([str(path.parent)])


def write_setup(target: Target, vault: Path, token: str, api_url: str, *, force: bool) -> None:
    """The token file, then the config naming it: a config never names a missing token."""
    try:
        target.config.parent.mkdir(parents=True, exist_ok=True, mode=0o700)  # the token's too
        text = config_text(vault, target.token_file, api_url)
        write_private(target.token_file, token + "\n", replace=force)
        try:
            write_private(target.config, text, replace=force)
        except BaseException:
            if not force:  # the token file is ours, just written: don't leave it behind
                target.token_file.unlink(missing_ok=True)
            raise
    except OSError as exc:
        where = exc.filename or target.config
        raise ConfigError(f"cannot write {where} ({exc.strerror})") from exc


def foreign_note(folder: Path) -> Path | None:
    """A Markdown file in ``folder`` that the demo didn't write (the folder holds no demo
    state), or None: the demo may sync into a new or empty folder or one it made."""
    if (folder / DEMO_STATE).exists() or not folder.is_dir():
        return None
    for parent, _dirs, files in os.walk(folder):
        for name in files:
            if name.lower().endswith(".md"):
                return Path(parent, name)
    return None


def fake_library(books: int | None) -> list[Book]:
    """The demo library, or ``books`` documents made from it (copies with their own ids
    and titles) for trying a larger sync."""
    demo = FakeReadwise.demo().books()
    if books is None:
        return demo
    made: list[Book] = []
    for n in range(books):
        book = copy.deepcopy(demo[n % len(demo)])
        copy_no = n // len(demo)
        if copy_no:
            book_id = int(book["user_book_id"]) * 1000 + copy_no
            book["user_book_id"] = book_id
            book["title"] = f"{book['title']} ({copy_no + 1})"
            book["readable_title"] = f"{book['readable_title']} ({copy_no + 1})"
            for highlight in book["highlights"]:
                highlight["id"] = int(highlight["id"]) * 1000 + copy_no
                highlight["book_id"] = book_id
        made.append(book)
    return made


def fake_server(*, books: int | None, token: str, port: int) -> FakeReadwise:
    """A fake Readwise (not yet started) serving :func:`fake_library` on 127.0.0.1:``port``
    (0: any free port)."""
    return FakeReadwise(fake_library(books), token=token, port=port)
