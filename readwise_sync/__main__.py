"""``python -m readwise_sync``: the same as the ``readwise-sync`` command."""

from readwise_sync.app.cli import main

if __name__ == "__main__":
    main(prog_name="readwise-sync")
