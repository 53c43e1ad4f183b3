"""Plain records the repositories return (rows decoded once, at the store edge)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from junction import jsonutil
from junction.redact import public_config
from junction.store.db import Row

TERMINAL = frozenset(
    {"completed", "failed", "cancelled", "incomplete", "requires_action", "budget_exceeded"}
)
RUNNING = frozenset({"queued", "in_progress"})


@dataclass
class InteractionRecord:
    id: str
    project_id: str
    status: str
    model: str | None
    agent: str | None
    previous_interaction_id: str | None
    chain_id: str
    first_seq: int
    last_seq: int
    config: dict[str, Any]
    created: str
    updated: str
    usage: dict[str, Any] | None = None
    errors: list[dict[str, Any]] | None = None
    environment_id: str | None = None
    background: bool = False
    cancel_requested: bool = False
    idempotency_key: str | None = None
    lease_owner: str | None = None
    lease_expires: int = 0
    fence: int = 0
    attempts: int = 0
    steps: list[dict[str, Any]] = field(default_factory=list)
    #: set when a claim read the last event id (and the steps) along with the row
    max_event: int | None = None
    #: the API key that created it (per-key usage), and the W3C trace context its run
    #: continues in (``traceparent``/``tracestate`` as JSON), when tracing is on
    api_key_id: str | None = None
    trace_context: str | None = None

    @classmethod
    def from_row(cls, row: Row) -> InteractionRecord:
        return cls(
            id=row["id"],
            project_id=row["project_id"],
            status=row["status"],
            model=row["model"],
            agent=row["agent"],
            previous_interaction_id=row["previous_interaction_id"],
            chain_id=row["chain_id"],
            first_seq=row["first_seq"],
            last_seq=row["last_seq"],
            config=jsonutil.loads(row["config"]),
            usage=jsonutil.loads(row["usage"]) if row["usage"] else None,
            errors=jsonutil.loads(row["errors"]) if row["errors"] else None,
            environment_id=row["environment_id"],
            background=bool(row["background"]),
            cancel_requested=bool(row["cancel_requested"]),
            idempotency_key=row["idempotency_key"],
            lease_owner=row["lease_owner"],
            lease_expires=row["lease_expires"],
            fence=row["fence"],
            attempts=row["attempts"],
            created=row["created"],
            updated=row["updated"],
            api_key_id=row["api_key_id"],
            trace_context=row["trace_context"],
        )

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    def to_wire(self, *, include_input: bool = False, steps: bool = True) -> dict[str, Any]:
        """The Interaction resource as the SDK parses it (REFERENCE 3.2)."""
        out: dict[str, Any] = {"id": self.id, "object": "interaction", "status": self.status}
        if self.model:
            out["model"] = self.model
        if self.agent:
            out["agent"] = self.agent
        out["created"] = self.created
        out["updated"] = self.updated
        for key, value in public_config(self.config).items():
            if key != "input":
                out[key] = value
        if include_input and "input" in self.config:
            out["input"] = self.config["input"]
        if steps:
            out["steps"] = self.steps
        if self.usage:
            out["usage"] = self.usage
        if self.errors:
            out["errors"] = self.errors
        if self.environment_id:
            out["environment_id"] = self.environment_id
        return out
