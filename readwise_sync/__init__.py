"""readwise-sync: keep an Obsidian vault in step with a Readwise library."""

__version__ = "0.1.0"
