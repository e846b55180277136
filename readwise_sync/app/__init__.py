"""The tool as the user meets it.

Config, file locations, checks, the CLI, every sentence said to the user, the
daemon, service files. Holds no sync logic.
"""
