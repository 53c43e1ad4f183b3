"""Retention (per-project purge of old data), whole-project deletion and export."""
