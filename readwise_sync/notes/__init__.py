"""Notes as text.

Names, templates, merge, conflicts, finding a note by what it holds. Pure: text
in, values out; no I/O beyond loading the templates.
"""
