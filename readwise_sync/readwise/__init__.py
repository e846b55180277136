"""Readwise, the source.

The HTTP client, the export's wire models, the incremental protocol, the fake
server. Never touches the vault or the state.
"""
