"""Which event an interaction status raises, and the body every delivery carries.

The body is Google's thin webhook payload: the event type, a schema version, when it
happened, and the resource's id and status — receivers fetch the full resource by id::

    {"type": "interaction.completed", "version": "v1", "timestamp": "…Z",
     "data": {"id": "v1_…", "object": "interaction", "status": "completed"}}

Junction's own terminal statuses map onto Google's events so an app subscribed to
Google's events hears about every ending; ``data.status`` tells them apart:
``incomplete`` (an output or run limit cut it short; its output is kept) raises
``interaction.completed``, ``budget_exceeded`` raises ``interaction.failed``.
"""

from __future__ import annotations

from typing import Any

from junction import ids, jsonutil

#: interaction status -> the event it raises
STATUS_EVENTS = {
    "completed": "interaction.completed",
    "incomplete": "interaction.completed",
    "failed": "interaction.failed",
    "budget_exceeded": "interaction.failed",
    "requires_action": "interaction.requires_action",
    "cancelled": "interaction.cancelled",
}

PING = "webhook.ping"

#: events a webhook may subscribe to (Google's, plus trigger outcomes); the list is open
#: like the SDK's enum, so an unknown name matching NAME_PATTERN is accepted too
KNOWN_EVENTS = (
    "interaction.completed",
    "interaction.failed",
    "interaction.requires_action",
    "interaction.cancelled",
    "batch.succeeded",
    "batch.expired",
    "batch.failed",
    "batch.cancelled",
    "video.generated",
    "trigger.execution.completed",
    "trigger.execution.failed",
    "trigger.execution.timed_out",
    "trigger.execution.skipped",
)


def timestamp() -> str:
    return ids.now_iso_seconds()


def body(event_type: str, data: dict[str, Any]) -> str:
    """The JSON body of one message (signed byte for byte)."""
    return jsonutil.dumps(
        {"type": event_type, "version": "v1", "timestamp": timestamp(), "data": data}
    )


def interaction_data(
    interaction_id: str,
    status: str,
    errors: list[dict[str, Any]] | None,
    user_metadata: dict[str, Any] | None = None,
) -> dict[str, Any]:
    data: dict[str, Any] = {"id": interaction_id, "object": "interaction", "status": status}
    if errors and status in ("failed", "budget_exceeded"):
        data["error_code"] = errors[-1].get("code")
        data["error_message"] = errors[-1].get("message")
    if user_metadata:
        data["user_metadata"] = user_metadata
    return data
