"""Response models of the documented answers in ``/openapi.json``: the fields Junction
always sends, typed; resources may carry more (``additionalProperties``), as the
Interactions API adds fields over time. The Interaction resource is described by the
pinned SDK's types; here it names its stable fields."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

Json = dict[str, Any]


class Answer(BaseModel):
    model_config = ConfigDict(extra="allow")


class ErrorDetail(Answer):
    code: str = Field(description="e.g. invalid_argument, not_found, resource_exhausted")
    message: str = Field(description="what went wrong and what to send instead")
    status: str = Field(description="the code in capitals, e.g. INVALID_ARGUMENT")


class Error(BaseModel):
    """Every 4xx/5xx answer: the shape the official SDK parses."""

    error: ErrorDetail


class Empty(BaseModel):
    """``{}``: done."""

    model_config = ConfigDict(extra="forbid")


class Interaction(Answer):
    id: str
    status: str = Field(description="in_progress, requires_action, completed, failed, cancelled…")
    model: str | None = None
    agent: str | None = None
    created: str | None = None
    updated: str | None = None
    steps: list[Json] | None = Field(default=None, description="absent in listings")
    usage: Json | None = None


class InteractionList(Answer):
    interactions: list[Interaction]
    next_page_token: str | None = None


class Agent(Answer):
    id: str
    base_agent: str | None = None
    description: str | None = None
    system_instruction: str | None = None
    tools: list[Json] | None = None
    agent_config: Json | None = None


class AgentList(Answer):
    agents: list[Agent]
    next_page_token: str | None = None


class Environment(Answer):
    id: str
    status: str
    mode: str | None = None


class EnvironmentList(Answer):
    environments: list[Environment]
    next_page_token: str | None = None


class EnvironmentFile(Answer):
    name: str
    path: str
    type: str = Field(description="file, directory or symlink")
    size_bytes: str
    created: str
    modified: str
    mime_type: str | None = None


class FileList(Answer):
    files: list[EnvironmentFile]
    next_page_token: str | None = None


class Uploaded(Answer):
    """A finished upload: the file, or every file an archive held."""

    file: EnvironmentFile | None = None
    files: list[EnvironmentFile] | None = None


class Credential(Answer):
    id: str
    type: str
    status: str
    create_time: str
    update_time: str


class CredentialList(Answer):
    credentials: list[Credential]
    next_page_token: str | None = None


class Webhook(Answer):
    id: str
    uri: str
    subscribed_events: list[str]
    state: str
    name: str | None = None


class WebhookList(Answer):
    webhooks: list[Webhook]
    next_page_token: str | None = None


class DeliveryList(Answer):
    deliveries: list[Json]
    next_page_token: str | None = None


class Trigger(Answer):
    id: str
    schedule: str
    time_zone: str
    status: str


class TriggerList(Answer):
    triggers: list[Trigger]
    next_page_token: str | None = None


class ExecutionList(Answer):
    executions: list[Json]
    next_page_token: str | None = None


class Voice(Answer):
    name: str | None = None
    type: str | None = None


class VoiceList(Answer):
    voices: list[Voice]
    next_page_token: str | None = None


class Decision(Answer):
    """One answer per question id."""


class UsageReport(Answer):
    object: str = "usage_report"
    start: str
    end: str
    group_by: list[str]
    currency: str | None = None
    usage: list[Json]


class AuthToken(Answer):
    auth_token: str = Field(description="send it as the API key (x-goog-api-key)")
    expires_at: str


class RetentionPolicy(Answer):
    interactions_days: float | None = None
    events_days: float | None = None
    media_days: float | None = None
    environment_idle_seconds: float | None = None
    overridden: list[str]


class Deleted(Answer):
    deleted: dict[str, int] = Field(description="rows removed, by kind")


class Health(Answer):
    status: str


class Jwks(Answer):
    keys: list[Json]
