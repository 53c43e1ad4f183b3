"""Content items (REFERENCE 3.5): what a user_input or model_output step carries."""

from __future__ import annotations

import binascii
from base64 import b64decode
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

MEDIA_TYPES = ("image", "audio", "video", "document")


class _Open(BaseModel):
    # Unknown fields are kept and round-trip (the SDK resends what the server returned).
    model_config = ConfigDict(extra="allow")


class TextContent(_Open):
    type: Literal["text"]
    text: str
    annotations: list[dict[str, Any]] | None = None


class _Media(_Open):
    data: str | None = None
    uri: str | None = None
    mime_type: str | None = None

    @model_validator(mode="after")
    def _data_or_uri(self) -> _Media:
        if not self.data and not self.uri:
            raise ValueError(f"a {self.type} item needs 'data' (base64) or 'uri'")  # type: ignore[attr-defined]
        if self.data:
            try:
                b64decode(self.data, validate=True)
            except (binascii.Error, ValueError):
                try:
                    b64decode(self.data, altchars=b"-_", validate=True)
                except (binascii.Error, ValueError) as exc:
                    raise ValueError(f"'data' of a {self.type} item is not valid base64") from exc  # type: ignore[attr-defined]
        if self.data and not self.mime_type:
            raise ValueError(f"inline {self.type} data needs a 'mime_type'")  # type: ignore[attr-defined]
        return self


class ImageContent(_Media):
    type: Literal["image"]
    resolution: str | None = None


class AudioContent(_Media):
    type: Literal["audio"]
    sample_rate: int | None = None
    channels: int | None = None


class VideoContent(_Media):
    type: Literal["video"]
    resolution: str | None = None


class DocumentContent(_Media):
    type: Literal["document"]


Content = Annotated[
    TextContent | ImageContent | AudioContent | VideoContent | DocumentContent,
    Field(discriminator="type"),
]
