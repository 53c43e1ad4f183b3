"""JSON request bodies of the resource routes (agents, environments, credentials,
webhooks, triggers, auth tokens), validated at the route by ``api/spec.json_body`` and
documented in ``/openapi.json``. The services behind them keep their deeper checks
(ids against the database, network policies, cron schedules, destination URLs).

``HINTS`` (field -> "must be …") keeps the wording the services used; ``UNKNOWN`` words
an unknown field where a body takes a closed set. Bodies that tolerated unknown fields
still do (``extra="allow"``), so a client written for a newer server is not refused.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from junction.notify.events import KNOWN_EVENTS
from junction.runtime.voices import VoiceInput

Json = dict[str, Any]


class Body(BaseModel):
    model_config = ConfigDict(extra="allow")
    HINTS: ClassVar[dict[str, str]] = {}
    UNKNOWN: ClassVar[str] = ""


class CreateAgent(Body):
    HINTS = {
        "id": "must be 1-63 lowercase letters, digits, '_', '-' or '.'",
        "base_agent": "must be an agent id",
        "tools": "must be a list of tool objects",
        "base_environment": "must be an environment id or object",
    }
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,62}$")
    base_agent: str | None = Field(default=None, description="default: junction-general")
    description: str | None = None
    system_instruction: str | None = None
    tools: list[Json] | None = Field(
        default=None,
        description="code_execution, function, google_search, mcp_server or url_context tools",
    )
    agent_config: Json | None = Field(
        default=None, description="model, max_total_tokens, max_steps, max_seconds, …"
    )
    base_environment: str | Json | None = None


class CreateEnvironment(Body):
    HINTS = {
        "from_environment": "must be an environment id",
        "sources": "must be a list of sources",
        "custom_config": "must be an object",
        "mode": "must be one of on_demand, self_hosted",
    }
    mode: Literal["on_demand", "self_hosted", ""] | None = None
    sources: list[Any] | None = Field(
        default=None, description="inline, repository, archive or … sources copied in"
    )
    network: str | Json | None = Field(
        default=None, description='"disabled" or {"allowlist": [{"domain": …}, …]}'
    )
    custom_config: Json | None = None
    from_environment: str | None = Field(default=None, description="copy this workspace")


class CreateCredential(Body):
    HINTS = {
        "type": "must be one of: bearer_token, environment_variable, oauth2",
        "id": "must be 1-63 lowercase letters, digits, '_' or '-'",
        "scopes": "must be a list of strings",
        "trusted_domains": "must be a list of strings",
    }
    id: str = Field(description="1-63 lowercase letters, digits, '_' or '-'")
    type: Literal["bearer_token", "environment_variable", "oauth2"]
    token: str | None = Field(default=None, description="bearer_token: the secret")
    header_name: str | None = None
    prefix: str | None = None
    value: str | None = Field(default=None, description="environment_variable: the secret")
    injection_location: str | list[str] | None = None
    client_id: str | None = None
    client_secret: str | None = None
    refresh_token: str | None = None
    token_url: str | None = None
    scopes: list[str] | None = None
    trusted_domains: list[str] | None = None


class UpdateCredential(Body):
    """Any of a credential's fields but ``id`` (``update_mask`` names which)."""

    HINTS = CreateCredential.HINTS
    type: Literal["bearer_token", "environment_variable", "oauth2"] | None = None
    token: str | None = None
    value: str | None = None
    client_secret: str | None = None
    refresh_token: str | None = None
    trusted_domains: list[str] | None = None


class CreateWebhook(Body):
    uri: str = Field(description="an https URL the deliveries are POSTed to")
    subscribed_events: list[str] = Field(description=f"event names: {', '.join(KNOWN_EVENTS)}")
    name: str | None = Field(default=None, max_length=512)
    state: Literal["enabled", "disabled"] | None = None
    HINTS = {
        "subscribed_events": "must be a non-empty list of event names, e.g. "
        '["interaction.completed", "interaction.failed"]',
        "state": "can be set to 'enabled' or 'disabled'",
    }


class UpdateWebhook(Body):
    uri: str | None = None
    subscribed_events: list[str] | None = None
    name: str | None = None
    state: Literal["enabled", "disabled"] | None = None
    HINTS = CreateWebhook.HINTS


class PingWebhook(Body):
    pass


class RotateSecret(Body):
    revocation_behavior: (
        Literal["revoke_previous_secrets_after_h24", "revoke_previous_secrets_immediately"] | None
    ) = None


class CreateTrigger(Body):
    model_config = ConfigDict(extra="forbid")
    UNKNOWN = (
        "unknown trigger field '{name}': allowed are catch_up, concurrency, display_name, "
        "environment_id, execution_timeout_seconds, interaction, max_consecutive_failures, "
        "schedule, time_zone"
    )
    schedule: str = Field(description="a cron expression, e.g. '0 9 * * 1-5'")
    time_zone: str = Field(description="an IANA zone, e.g. Europe/Berlin")
    interaction: Json = Field(description="the create-interaction body each run sends")
    display_name: str | None = Field(default=None, max_length=512)
    environment_id: str | None = None
    execution_timeout_seconds: int | None = Field(default=None, ge=1)
    max_consecutive_failures: int | None = Field(default=None, ge=1)
    concurrency: Literal["forbid", "allow"] | None = None
    catch_up: Literal["latest", "none"] | None = None


class UpdateTrigger(Body):
    model_config = ConfigDict(extra="forbid")
    UNKNOWN = (
        "'{name}' cannot be updated: only display_name and status can "
        "(create a new trigger to change anything else)"
    )
    HINTS = {
        "display_name": "must be a string of at most 512 characters",
        "status": "must be active (resume) or paused (pause)",
    }
    display_name: str | None = Field(default=None, max_length=512)
    status: Literal["active", "paused", "error"] | None = Field(
        default=None, description="active (resume) or paused (pause); error is the server's"
    )


class CreateAuthToken(Body):
    model_config = ConfigDict(extra="forbid")
    UNKNOWN = "unknown field(s) ['{name}']: only expire_time is accepted"
    HINTS = {"expire_time": "must be an RFC 3339 timestamp string"}
    expire_time: str | None = Field(
        default=None,
        max_length=64,
        description="RFC 3339 with a zone, e.g. 2026-06-01T13:00:00Z (default: server's)",
    )


class CreateVoice(Body):
    model_config = ConfigDict(extra="forbid")
    UNKNOWN = "unknown field(s): {name}"
    HINTS = {"store": "must be true or false"}
    voice: VoiceInput = Field(description="type 'prompted': a description plus a base_voice")
    store: bool = True
