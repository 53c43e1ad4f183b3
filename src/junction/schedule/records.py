"""Trigger and execution rows, decoded once, and their wire form (REFERENCE 9.2)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from junction import jsonutil
from junction.redact import public_config
from junction.schedule.cron import iso
from junction.store.db import Row

TRIGGER_STATUSES = frozenset({"active", "paused", "error"})
EXECUTION_STATUSES = frozenset({"in_progress", "completed", "failed", "skipped", "timed_out"})
CONCURRENCY = frozenset({"forbid", "allow"})
CATCH_UP = frozenset({"latest", "none"})


@dataclass
class TriggerRecord:
    id: str
    project_id: str
    display_name: str | None
    schedule: str
    time_zone: str
    interaction: dict[str, Any]
    environment_id: str | None
    execution_timeout_seconds: int | None
    max_consecutive_failures: int | None
    concurrency: str
    catch_up: str
    status: str
    consecutive_failure_count: int
    next_run_ms: int | None
    last_run_time: str | None
    last_pause_time: str | None
    last_resume_time: str | None
    previous_interaction_id: str | None
    created: str
    updated: str

    @classmethod
    def from_row(cls, row: Row) -> TriggerRecord:
        values = dict(row)
        values["interaction"] = jsonutil.loads(values["interaction"])
        return cls(**values)

    def to_wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "schedule": self.schedule,
            "time_zone": self.time_zone,
            "interaction": public_config(self.interaction),
            "display_name": self.display_name,
            "environment_id": self.environment_id,
            "execution_timeout_seconds": self.execution_timeout_seconds,
            "max_consecutive_failures": self.max_consecutive_failures,
            "status": self.status,
            "consecutive_failure_count": self.consecutive_failure_count,
            "create_time": self.created,
            "update_time": self.updated,
            "last_run_time": self.last_run_time,
            "next_run_time": iso(self.next_run_ms) if self.status == "active" else None,
            "last_pause_time": self.last_pause_time,
            "last_resume_time": self.last_resume_time,
            "previous_interaction_id": self.previous_interaction_id,
            # Junction additions (docs/triggers.md)
            "concurrency": self.concurrency,
            "catch_up": self.catch_up,
        }
        return {k: v for k, v in out.items() if v is not None}


@dataclass
class ExecutionRecord:
    id: str
    trigger_id: str
    project_id: str
    manual: int
    scheduled_ms: int
    status: str
    interaction_id: str | None
    environment_id: str | None
    start_time: str | None
    end_time: str | None
    deadline_ms: int | None
    start_lease_ms: int
    error: str | None
    created: str

    @classmethod
    def from_row(cls, row: Row) -> ExecutionRecord:
        names = cls.__dataclass_fields__
        return cls(**{k: row[k] for k in names})

    def to_wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "trigger_id": self.trigger_id,
            "status": self.status,
            "interaction_id": self.interaction_id,
            "environment_id": self.environment_id,
            "scheduled_time": iso(self.scheduled_ms),
            "start_time": self.start_time,
            "end_time": self.end_time,
            "error": self.error,
        }
        return {k: v for k, v in out.items() if v is not None}
