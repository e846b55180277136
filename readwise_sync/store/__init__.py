"""What the tool keeps.

The state (SQLite), the vault (atomic, confined I/O), the lock, the spool,
durability. Stores and reads; decides nothing.
"""
