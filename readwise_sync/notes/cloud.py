"""Files that cloud sync clients leave in a vault, told apart from the user's notes.

A vault kept in iCloud Drive, Syncthing, Dropbox, Nextcloud or Google Drive holds
files no note-taker wrote: placeholders standing for a note whose text is only in
the cloud, and conflict copies a client made when the same note changed in two
places. Neither may be adopted as a book's note, taken for a note the user moved,
or written over; each is reported with what the user should do. This module says
which a file is, from its name and the names beside it in its folder, and whether
a note changed too recently to touch. It is pure: names and numbers in, answers
out; the caller lists folders and reads ``os.stat``.

Only what a client's name makes visible can be recognised here. Dropbox's, Google
Drive's and OneDrive's online-only files keep the note's own name (the operating
system holds their place: see :func:`offloaded`), as do iCloud's evicted files on
macOS 14 and later; none of those is told by its name. Localised clients name
their copies in the user's language (Dropbox in German: "In Konflikt stehende
Kopie"); only the English names are known here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from readwise_sync.notes.naming import name_key

# iCloud Drive's placeholder for an evicted file, up to macOS 13 and on iOS: the file's
# own name with a leading dot (hidden) and ".icloud" after it; "Walden.md" is held by
# ".Walden.md.icloud" until it is downloaded again. Apple does not document the name;
# it is described, with the switch to dataless files in macOS 14 Sonoma, by Howard
# Oakley (eclecticlight.co, "How iCloud marks the place of documents stored remotely",
# 2018, and mjtsai.com/blog/?p=40958, "iCloud Drive Switches to Dataless Files", 2023).
PLACEHOLDER_PREFIX = "."
PLACEHOLDER_SUFFIX = ".icloud"
_PLACEHOLDER = re.compile(r"\.(?P<original>.+)\.icloud", re.DOTALL)

# How far the numbered duplicates below count: a client adds (1), (2)... or 2, 3...
# to keep both files, never hundreds. The tool's own suffix for a second book of
# the same title is its Readwise id, eight digits today, so it stays out of range;
# a book id this small only exists in test libraries, and a name the state holds
# for a book is the tool's own anyway (the caller never asks about those).
MAX_COPY_NUMBER = 99

# macOS <sys/stat.h> SF_DATALESS: "file is dataless object", the form iCloud Drive
# (macOS 14 and later) and File Provider clients (Dropbox, OneDrive, Google Drive)
# give an online-only file; reading it starts a download. (Python's stat module has
# it from 3.13, as stat.SF_DATALESS.)
SF_DATALESS = 0x40000000
# Windows file attribute constants (learn.microsoft.com, "File Attribute Constants"):
# the cloud files API marks OneDrive's and Dropbox's online-only files with these.
FILE_ATTRIBUTE_OFFLINE = 0x00001000
FILE_ATTRIBUTE_RECALL_ON_OPEN = 0x00040000
FILE_ATTRIBUTE_RECALL_ON_DATA_ACCESS = 0x00400000
_WINDOWS_OFFLOADED = (
    FILE_ATTRIBUTE_OFFLINE | FILE_ATTRIBUTE_RECALL_ON_OPEN | FILE_ATTRIBUTE_RECALL_ON_DATA_ACCESS
)

# Syncthing (docs.syncthing.net, FAQ "What if there is a conflict?"):
# "<filename>.sync-conflict-<date>-<time>-<modifiedBy>.<ext>", the date as YYYYMMDD,
# the time as HHMMSS, modifiedBy the short device ID (7 characters); older releases
# left out "-<modifiedBy>". A copy of a copy repeats the marker.
_SYNCTHING = re.compile(
    r"(?P<stem>.+)\.sync-conflict-\d{8}-\d{6}(?:-[A-Z0-9]{7})?(?P<ext>\.[^.]+)?", re.DOTALL
)
# Dropbox (help.dropbox.com/syncing-uploads/conflicted-copy): "The editor's username,
# 'conflicted copy', and the save date will be added to the filename", as in
# "Walden (Jane's conflicted copy 2024-01-15).md". Nextcloud (docs.nextcloud.com, user
# manual, desktop client, "Conflicts"): "mydata (conflicted copy 2018-04-10 093612).txt".
_CONFLICTED_COPY = re.compile(
    r"(?P<stem>.+) \((?P<who>[^()]*?)conflicted copy(?P<when>[^()]*(?:\(\d+\))?)\)"
    r"(?P<ext>\.[^.]+)?",
    re.DOTALL | re.IGNORECASE,
)
_NEXTCLOUD_STAMP = re.compile(r"\d{4}-\d{2}-\d{2} \d{6}\s*$")
# Google Drive for desktop names a second file of the same name in a folder
# "Notes (1).md" (Drive allows two files of one name; a disk does not). Not in
# Google's own documentation: described by its users, so only ever believed with
# the original beside it.
_GOOGLE_DRIVE = re.compile(r"(?P<stem>.+) \((?P<number>[1-9][0-9]*)\)(?P<ext>\.[^.]+)?", re.DOTALL)
# iCloud Drive keeps both sides of a conflict as "File" and "File 2" (counting from 2,
# like the Finder). Not documented by Apple: observed and described by developers
# (mentalfaculty.tumblr.com, "The Mysterious Case of iCloud Drive and the Splitting
# Folders", 2014, updated 2015). A book may well be called "Chapter 2": only with
# "Chapter.md" beside it is it taken for a copy, and even then not for certain.
_ICLOUD_DUPLICATE = re.compile(r"(?P<stem>.+) (?P<number>[1-9][0-9]*)(?P<ext>\.[^.]+)?", re.DOTALL)
# Left out, for want of a documented name: Obsidian Sync (its help says it merges
# conflicting versions with diff-match-patch; a newer "create conflict file" choice
# exists, its file name undocumented), OneDrive (its copies' names could not be
# pinned down), Dropbox's "case conflict" and "white space conflict" renames.

Kind = Literal["placeholder", "conflict"]


@dataclass(frozen=True)
class CloudFile:
    """A file a sync client made, and the note it stands for or copies.

    ``certain`` is False for numbered duplicates ("Walden 2.md", "Walden (1).md"),
    which a real title can also read as: the caller should let the note's content
    confirm it (a copy holds its original's text, not a note of its own title).
    ``beside`` says whether the original is in the same folder.
    """

    name: str
    kind: Kind
    client: str
    original: str
    certain: bool = True
    beside: bool = True

    def advice(self, folder: str = "") -> str:
        """One line for the user: which file, whose it is, what to do."""
        where = f"{folder.rstrip('/')}/" if folder else ""
        if self.kind == "placeholder":
            return (
                f"{where}{self.original} is offloaded to {self.client} ({self.name} holds its "
                "place); download it (Finder: Download Now) and the next sync updates it"
            )
        if not self.certain:
            return (
                f"{where}{self.name} looks like {self.client}'s duplicate of {self.original}; "
                f"merge what you want from it into {self.original} and delete it, "
                "or rename it if it is a note of its own"
            )
        if not self.beside:
            return (
                f"{where}{self.name} is {self.client}'s conflict copy of {self.original}, "
                f"which is not beside it; rename it to {self.original} to keep it as the "
                "note, or delete it"
            )
        return (
            f"{where}{self.name} is {self.client}'s conflict copy of {self.original}; merge "
            f"what you want from it into {self.original} and delete it "
            "(readwise-sync never adopts or writes it)"
        )


def placeholder_name(name: str) -> str:
    """The name iCloud gives the placeholder of an evicted file: "W.md" -> ".W.md.icloud"."""
    return PLACEHOLDER_PREFIX + name + PLACEHOLDER_SUFFIX


def placeholder_of(name: str) -> str | None:
    """The file an iCloud placeholder stands for, or None if ``name`` is not one."""
    match = _PLACEHOLDER.fullmatch(name)
    return match.group("original") if match else None


def offloaded(*, st_flags: int = 0, file_attributes: int = 0) -> bool:
    """Whether ``os.stat`` says a file's data is in the cloud only (reading it would
    download it, or fail offline): ``st_flags`` on macOS, ``st_file_attributes`` on
    Windows. Linux has neither; there a synced file is either whole or absent."""
    return bool(st_flags & SF_DATALESS or file_attributes & _WINDOWS_OFFLOADED)


def too_recent(modified: float, now: float, quiet_period: float) -> bool:
    """Whether a note changed so recently (within ``quiet_period`` seconds of ``now``)
    that it is left for the next run: an editor or a sync client may be writing it.

    A time ahead of ``now`` by less than the period counts as just now; further ahead
    is a clock that is wrong, which must not hold the note back for ever. A period of
    0 leaves nothing.
    """
    return quiet_period > 0 and abs(now - modified) < quiet_period


def _conflicted_copy_client(who: str, when: str) -> str:
    if who.strip():
        return "Dropbox"  # only Dropbox puts the editor's name first
    if _NEXTCLOUD_STAMP.search(when):
        return "Nextcloud"
    if when.strip():
        return "Dropbox"
    return "your sync client"


def _certain_copy(name: str) -> tuple[str, str] | None:
    """(client, original) for a name only a sync client writes, or None."""
    match = _SYNCTHING.fullmatch(name)
    if match:
        return "Syncthing", match.group("stem") + (match.group("ext") or "")
    match = _CONFLICTED_COPY.fullmatch(name)
    if match:
        client = _conflicted_copy_client(match.group("who"), match.group("when"))
        return client, match.group("stem") + (match.group("ext") or "")
    return None


def _numbered_copy(name: str) -> tuple[str, str] | None:
    """(client, original) if the name is a numbered duplicate's, or None; the caller
    still has to see the original beside it."""
    for client, pattern, lowest in (
        ("Google Drive", _GOOGLE_DRIVE, 1),
        ("iCloud", _ICLOUD_DUPLICATE, 2),
    ):
        match = pattern.fullmatch(name)
        if match and lowest <= int(match.group("number")) <= MAX_COPY_NUMBER:
            return client, match.group("stem") + (match.group("ext") or "")
    return None


class Folder:
    """The names in one folder, each of which can be classified against the others."""

    def __init__(self, names: Iterable[str]) -> None:
        # Keyed as a case-insensitive, normalising file system sees them (macOS may
        # list an NFD spelling of the name the copy was made from).
        self._keys = frozenset(name_key(name) for name in names)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name_key(name) in self._keys

    def classify(self, name: str) -> CloudFile | None:
        """What a sync client made ``name`` as, or None for an ordinary file."""
        original = placeholder_of(name)
        if original is not None:
            return CloudFile(name, "placeholder", "iCloud", original, beside=original in self)
        found = _certain_copy(name)
        if found is not None:
            client, original = found
            # A copy of a copy ("X.sync-conflict-A.sync-conflict-B.md"): name the note.
            while (again := _certain_copy(original)) is not None:
                original = again[1]
            return CloudFile(name, "conflict", client, original, beside=original in self)
        found = _numbered_copy(name)
        if found is not None and found[1] in self:
            return CloudFile(name, "conflict", found[0], found[1], certain=False)
        return None

    def copy_or_placeholder(self, name: str, read: Callable[[str], str | None]) -> CloudFile | None:
        """:meth:`classify`, with a numbered duplicate counted only when its text says so
        (:func:`confirms_copy`; ``read`` gives the text of a name in this folder)."""
        made = self.classify(name)
        if made is None or made.certain:
            return made
        copy, original = read(made.name), read(made.original)
        if copy is None or original is None:
            return None
        return made if confirms_copy(copy, original) else None


def classify(name: str, siblings: Iterable[str]) -> CloudFile | None:
    """What a sync client made ``name`` as, judged with the other names in its folder
    (``name`` itself may be among them); None for an ordinary file. To classify a
    whole folder, build one :class:`Folder` and ask it for each name."""
    return Folder(siblings).classify(name)


_LINK = re.compile(r"\]\(([^()\s]+)\)")


def confirms_copy(copy_text: str, original_text: str) -> bool:
    """Whether a numbered duplicate ("Title 2.md") holds its original's text: it shares
    most of its links (highlight, Kindle and Readwise links identify a document), or is
    the same text. A note of its own title ("Chapter 2") shares none of them."""
    if copy_text == original_text:
        return True
    links = set(_LINK.findall(copy_text))
    return bool(links) and 2 * len(links & set(_LINK.findall(original_text))) >= len(links)
