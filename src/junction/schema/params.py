"""Query-string models of every route that reads one (validated by ``api/spec.query``,
documented in ``/openapi.json``). Unknown parameters are ignored, as before."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from junction.store.records import RUNNING, TERMINAL

MAX_VALUE = 256
Token = Annotated[str | None, Field(default=None, max_length=4096, description="from a page")]


class Query(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Page(Query):
    """A listing: ``page_size`` items from ``page_token`` on (``next_page_token``)."""

    page_size: int = Field(default=50, ge=1, le=1000)
    page_token: Token


class InteractionPage(Page):
    page_size: int = Field(default=20, ge=1, le=1000)


def _moment(value: str | None) -> str | None:
    if value is not None:
        try:
            datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(
                "must be a time like 2026-11-30T12:00:00Z or a day like 2026-11-30"
            ) from None
    return value


Moment = Annotated[
    str | None,
    Field(
        default=None,
        max_length=MAX_VALUE,
        description="an RFC 3339 time (2026-11-30T12:00:00Z) or a UTC day (2026-11-30)",
    ),
    AfterValidator(_moment),
]
Text = Annotated[str | None, Field(default=None, max_length=MAX_VALUE)]


def epoch_ms(value: str) -> int:
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


class ListInteractions(InteractionPage):
    status: Literal[tuple(sorted(RUNNING | TERMINAL))] | None = None  # type: ignore[valid-type]
    model: Text
    agent: Text
    after: Moment = None
    before: Moment = None

    @model_validator(mode="after")
    def _range(self) -> ListInteractions:
        if self.after and self.before and epoch_ms(self.after) >= epoch_ms(self.before):
            raise ValueError("after must be earlier than before")
        return self


class GetInteraction(Query):
    stream: bool = False
    last_event_id: Annotated[
        str | None, Field(default=None, max_length=32, description="resume after this event")
    ] = None
    include_input: bool = False

    @model_validator(mode="after")
    def _resume(self) -> GetInteraction:
        if self.last_event_id is not None and not self.stream:
            raise ValueError("last_event_id is only valid with stream=true")
        if self.last_event_id is not None and not self.last_event_id.isdigit():
            raise ValueError(
                f"last_event_id '{self.last_event_id}' is not an event id of this interaction"
            )
        return self

    @property
    def after(self) -> int:
        return int(self.last_event_id or 0)


class Confirm(Query):
    confirm: bool = Field(default=False, description="must be true: the deletion is final")


class UpdateMask(Query):
    update_mask: str | None = Field(
        default=None, max_length=1024, description="the fields to change, comma-separated"
    )

    @property
    def fields(self) -> list[str] | None:
        if self.update_mask is None:
            return None
        return [m.strip() for m in self.update_mask.split(",") if m.strip()] or None


class ListEnvironments(Page):
    mode: Literal["on_demand", "self_hosted"] | None = None


def _offset(value: str | None) -> str | None:
    if value is not None and not value.isdigit():
        raise ValueError("is not one this server issued")
    return value


Offset = Annotated[
    str | None,
    Field(default=None, max_length=20, description="from a page"),
    AfterValidator(_offset),
]


class GetFiles(Query):
    alt: str | None = Field(
        default=None, max_length=16, description="media: download the file's bytes"
    )
    page_size: int = Field(default=1000, ge=1, le=10000)
    page_token: Offset = None
    recursive: bool = False


class StartUpload(Query):
    overwrite: bool = False
    extract: bool = Field(default=False, description="unpack a .zip/.tar(.gz) archive here")


class UploadChunk(Query):
    upload_id: str = Field(default="", max_length=256, description="from X-Goog-Upload-URL")


class ListTriggers(Page):
    filter: Text = Field(default=None, max_length=MAX_VALUE, description="e.g. status=active")


class ListVoices(Page):
    page_token: Offset = None
    search: Text
    accent: list[str] | None = None
    context: list[str] | None = None
    gender: list[str] | None = None
    language_code: list[str] | None = None
    persona: list[str] | None = None
    pitch: list[str] | None = None
    region_code: list[str] | None = None
    type: list[str] | None = None


class UsageQuery(Query):
    start: date | None = Field(default=None, description="first UTC day (default: 30 days back)")
    end: date | None = Field(default=None, description="last UTC day (default: today)")
    group_by: str | None = Field(
        default=None,
        max_length=MAX_VALUE,
        description="comma-separated names from day, model, api_key; none for one total",
    )
    format: Literal["json", "csv"] | None = None
