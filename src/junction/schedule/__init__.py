"""Triggers: scheduled agent runs (cron evaluation, executions, exactly-once firing)."""
