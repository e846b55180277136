"""The sync itself.

Deciding what each note needs, whose note is whose, writing by the
pending/confirm protocol, the report. Builds no client, prints nothing, knows no
exit code.
"""
