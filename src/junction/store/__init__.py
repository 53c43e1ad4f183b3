"""Persistence: one small :class:`Database` seam (SQLite, PostgreSQL), numbered SQL
migrations, and repositories that hold every query (all scoped by project)."""
