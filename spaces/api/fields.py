"""OpenAI's request fields: each one this server takes is honoured; any other is a 400 naming it, never ignored.

The fields OpenAI defines for an endpoint are read from the installed ``openai`` SDK's request types (e.g.
``openai.types.chat.completion_create_params.CompletionCreateParamsBase``), so the server knows a real OpenAI field
it does not support from a misspelt one, and says which it is. A supported-elsewhere field is accepted only with its
neutral value (the one that changes nothing, e.g. ``presence_penalty: 0``, ``tools: []``, ``response_format:
{"type": "text"}``) or ``null``; anything else is refused with "not supported by this server".

>>> from spaces.api.fields import openai_fields
>>> "presence_penalty" in openai_fields("chat")
True
"""

from __future__ import annotations

import functools
import importlib
import logging
from typing import Any, ClassVar

from fastapi import Request
from pydantic import BaseModel, ConfigDict, model_validator

from .errors import ApiError, field_error

logger = logging.getLogger(__name__)

#: endpoint -> the SDK's request type (``module:TypedDict``) whose keys are OpenAI's fields for it
SDK_TYPES = {
    "chat": "openai.types.chat.completion_create_params:CompletionCreateParamsBase",
    "completions": "openai.types.completion_create_params:CompletionCreateParamsBase",
    "images.generate": "openai.types.image_generate_params:ImageGenerateParamsBase",
    "images.edit": "openai.types.image_edit_params:ImageEditParamsBase",
    "speech": "openai.types.audio.speech_create_params:SpeechCreateParams",
    "videos.create": "openai.types.video_create_params:VideoCreateParams",
}


@functools.cache
def openai_fields(endpoint: str) -> frozenset[str]:
    """The field names OpenAI's API reference (as the SDK encodes it) defines for `endpoint` (a key of `SDK_TYPES`)."""
    module, _, name = SDK_TYPES[endpoint].partition(":")
    try:
        typed = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as err:  # another SDK version: unknown fields are still refused
        logger.warning("cannot read OpenAI's fields for %s from the SDK (%s)", endpoint, err)
        return frozenset()
    keys: set[str] = set()
    for cls in reversed(typed.__mro__):
        keys.update(getattr(cls, "__annotations__", {}))
    return frozenset(keys | {"stream"} if endpoint in ("chat", "completions") else keys)


#: route path -> its request body type, for the wording of a refused field (`describe_extra`)
REQUEST_TYPES: dict[str, type] = {}


def register(path: str) -> Any:
    """Class decorator: `path`'s body is this `OpenAIRequest` type."""

    def decorate(cls: type) -> type:
        REQUEST_TYPES[path] = cls
        return cls

    return decorate


def _neutral(value: Any, allowed: tuple[Any, ...]) -> bool:
    return any(value == a and type(value) is type(a) or (a == 0 and value == 0 and type(value) in (int, float))
               for a in allowed) or value is None


class OpenAIRequest(BaseModel):
    """A request body of an OpenAI-compatible route: unknown fields forbidden; `NEUTRAL` fields dropped when they
    hold their neutral value (or null), refused otherwise (as unknown fields are, with "not supported")."""

    model_config = ConfigDict(extra="forbid", strict=True)  # JSON types as OpenAI's reference has them: no "yes"

    ENDPOINT: ClassVar[str] = ""
    #: OpenAI fields this server does not act on, with the values that ask for nothing (null is always neutral)
    NEUTRAL: ClassVar[dict[str, tuple[Any, ...]]] = {}

    @model_validator(mode="before")
    @classmethod
    def _drop_neutral(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        own = set(cls.model_fields)
        known = openai_fields(cls.ENDPOINT) if cls.ENDPOINT else frozenset()
        kept = {}
        for key, value in data.items():
            if key in own:
                kept[key] = value
            elif key in cls.NEUTRAL and _neutral(value, cls.NEUTRAL[key]):
                continue  # asks for nothing: honoured as it is
            elif key in known and key not in cls.NEUTRAL and value is None:
                continue  # an OpenAI field sent as null: the default, which is what this server does
            else:
                kept[key] = value  # refused by extra="forbid"; `describe_extra` words the message
        return kept


def describe_extra(cls: type[OpenAIRequest] | None, name: str) -> str:
    """The 400 message for the field `name` that `cls` does not take."""
    head = name.split(".")[0].split("[")[0]
    if cls is not None and cls.ENDPOINT and head in openai_fields(cls.ENDPOINT):
        neutral = cls.NEUTRAL.get(head)
        accepted = ", ".join(repr(v) for v in neutral) if neutral else ""
        return (f"`{name}` is an OpenAI field this server does not support"
                + (f" (it accepts only {accepted} or null)" if accepted else " (only null)") + "; leave it out.")
    return f"`{name}` is not a field of this endpoint; leave it out (see /docs for the fields it takes)."


async def read_multipart(request: Request, param: str, example: str) -> Any:
    """The request's multipart form (starlette's ``FormData``, to be closed by the caller): a 415 naming `param`
    (with `example`, e.g. ``"image=@picture.png, prompt=..."``) for another content type, a 400 for a malformed
    body."""
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise ApiError(415, f"Send a multipart form ({example}).", param=param, code="unsupported_media_type")
    try:
        return await request.form()
    except Exception as err:  # noqa: BLE001 - a malformed multipart body
        raise field_error(param, f"The multipart form could not be read ({type(err).__name__}).") from err
