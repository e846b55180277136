"""What a run is asked to do: the options planning goes by, as the app hands them over."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class RunOptions:
    folder: str = "Readwise"
    on_delete: str = "remove"
    recreate_deleted: bool = False
    adopt: bool = False  # look for existing notes of new books across the vault (full runs)
    quiet_period: float = 0.0  # a note the user saved this recently is left for the next run
