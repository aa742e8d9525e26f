"""Saved voices over HTTP, on the app's voice library (`pipelines.voices.VoiceLibrary`, ``--voices-dir``):

- ``POST /v1/audio/voices`` (OpenAI's path: ``client.audio.voices.create(name=, audio_sample=, consent=)``) and
  ``POST /v1/voices``: a multipart clip (``audio_sample``, or ``file``), checked as voice cloning checks a reference
  (decodable, 3-30 s of sound once silence is trimmed); returns the voice (``id`` = ``voice_`` + 16 hex digits);
- ``GET /v1/audio/voices`` / ``GET /v1/voices``: the list; ``GET .../{id}``: one voice;
- ``DELETE /v1/audio/voices/{id}`` / ``DELETE /v1/voices/{id}`` (OpenAI's ``client.audio.voices.delete``).

Then ``POST /v1/audio/speech`` with ``voice=<id>`` (or ``{"id": <id>}``) speaks in it. With API keys each key sees its
own voices and the ones saved without a key (the app's); ``consent`` (OpenAI's consent recording id, or a statement)
is written to the log with the new voice's id. mmhub's ``language`` field records what the voice speaks.

    curl http://127.0.0.1:7860/v1/voices -F name=Ania -F audio_sample=@ania.wav
"""

from __future__ import annotations

import datetime
import logging
import os
import shutil
import tempfile
from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from pipelines.errors import InputError
from pipelines.voices import Voice as SavedVoice

from .errors import ApiError, field_error, from_exception, unsupported
from .fields import read_multipart
from .service import Service, get_service

logger = logging.getLogger(__name__)

router = APIRouter(tags=["voices"])
FORM_FIELDS = {"audio_sample", "file", "name", "consent", "type", "language"}
OPENAI_UNSUPPORTED = {"prompt": "voices from a text prompt are not supported; send an audio_sample",
                      "model": "", "script_hint": ""}


class VoiceObject(BaseModel):
    id: str
    object: Literal["audio.voice"] = "audio.voice"
    created_at: int
    name: str
    type: Literal["audio_sample"] = "audio_sample"
    seconds: float
    sample_rate: int
    language: str | None = None


class VoiceList(BaseModel):
    object: Literal["list"] = "list"
    data: list[VoiceObject]


class VoiceDeleted(BaseModel):
    id: str
    deleted: bool
    object: Literal["audio.voice.deleted"] = "audio.voice.deleted"


def voice_object(voice: SavedVoice) -> VoiceObject:
    try:
        created = int(datetime.datetime.fromisoformat(voice.created).timestamp())
    except (TypeError, ValueError):
        created = 0
    return VoiceObject(id=voice.id, created_at=created, name=voice.name, seconds=voice.seconds,
                       sample_rate=voice.sample_rate, language=voice.language)


def owner_of(request: Request) -> str | None:
    return request.scope.get("state", {}).get("owner")


def _not_found(voice_id: str) -> ApiError:
    return ApiError(404, f"No voice {voice_id!r} here (GET /v1/voices lists yours).", param="voice_id",
                    code="voice_not_found")


async def create_voice(request: Request, service: Service = Depends(get_service)) -> VoiceObject:
    """Save a clip as a voice (multipart form: ``audio_sample`` file, ``name``; optional ``consent``, ``language``)."""
    form = await read_multipart(request, "audio_sample", "audio_sample=@clip.wav, name=...")
    try:
        for key in form:
            if key in OPENAI_UNSUPPORTED:
                raise unsupported(key, OPENAI_UNSUPPORTED[key])
            if key not in FORM_FIELDS:
                raise field_error(key, f"`{key}` is not a field of this endpoint; it takes "
                                       f"{', '.join(sorted(FORM_FIELDS))}.", "unknown_parameter")
        kind = form.get("type")
        if kind not in (None, "audio_sample"):
            raise unsupported("type", "only 'audio_sample' voices")
        upload = form.get("audio_sample") or form.get("file")
        if upload is None or isinstance(upload, str):
            raise field_error("audio_sample", "`audio_sample` must be an uploaded audio file (3-30 s of speech).")
        name, language, consent = form.get("name"), form.get("language"), form.get("consent")
        if name is None:
            raise field_error("name", "`name` is required.", "missing_required_parameter")
        for label, value in (("name", name), ("language", language), ("consent", consent)):
            if value is not None and not isinstance(value, str):
                raise field_error(label, f"`{label}` must be text.")
        suffix = os.path.splitext(upload.filename or "")[1][:10] or ".wav"
        folder = tempfile.mkdtemp(prefix="mmhub-voice-")
        try:
            path = os.path.join(folder, "clip" + suffix)
            with open(path, "wb") as out:
                shutil.copyfileobj(upload.file, out)
            owner = owner_of(request)
            try:
                voice = await service.offload(service.voices.save, name, path, language=language, owner=owner)
            except ApiError as err:
                if err.param == "audio":  # the library's name for the clip
                    err.param = "audio_sample"
                    err.message = err.message.replace("`audio`", "`audio_sample`")
                raise
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    finally:
        await form.close()
    logger.info("voice %s saved (%r)%s", voice.id, voice.name, f"; consent: {consent!r}" if consent else "")
    return voice_object(voice)


def _translate(err: Exception, voice_id: str) -> ApiError:
    if isinstance(err, ApiError):
        if err.param == "audio":
            err.param = "audio_sample"
        if err.param == "voice":
            return _not_found(voice_id)
        return err
    error = from_exception(err)
    return _not_found(voice_id) if error.param == "voice" else error


async def list_voices(request: Request, service: Service = Depends(get_service)) -> VoiceList:
    voices = await service.offload(service.voices.list, owner_of(request))
    return VoiceList(data=[voice_object(v) for v in voices])


async def get_voice(voice_id: str, request: Request, service: Service = Depends(get_service)) -> VoiceObject:
    try:
        return voice_object(service.voices.get(voice_id, owner_of(request)))
    except InputError as err:
        raise _translate(err, voice_id) from None


async def delete_voice(voice_id: str, request: Request, service: Service = Depends(get_service)) -> VoiceDeleted:
    try:
        voice = await service.offload(service.voices.delete, voice_id, owner_of(request))
    except ApiError as err:
        raise _translate(err, voice_id) from None
    return VoiceDeleted(id=voice.id, deleted=True)


UPLOAD_DOC = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["audio_sample", "name"],
    "properties": {"audio_sample": {"type": "string", "format": "binary"}, "name": {"type": "string"},
                   "consent": {"type": "string"}, "language": {"type": "string"},
                   "type": {"type": "string", "enum": ["audio_sample"]}}}}}}}

for base in ("/v1/audio/voices", "/v1/voices"):
    router.add_api_route(base, create_voice, methods=["POST"], response_model=VoiceObject,
                         summary="Save a voice from a clip (OpenAI: audio.voices.create)", openapi_extra=UPLOAD_DOC)
    router.add_api_route(base, list_voices, methods=["GET"], response_model=VoiceList, summary="The saved voices")
    router.add_api_route(base + "/{voice_id}", get_voice, methods=["GET"], response_model=VoiceObject,
                         summary="One saved voice")
    router.add_api_route(base + "/{voice_id}", delete_voice, methods=["DELETE"], response_model=VoiceDeleted,
                         summary="Delete a voice (OpenAI: audio.voices.delete)")


def reference_for(service: Service, request: Request, voice: Any) -> str:
    """The reference clip of the saved voice `voice` (an id, or OpenAI's ``{"id": ...}``), or a 400 naming ``voice``
    that says how to save one (this server has no built-in voices: cloning always needs a saved voice)."""
    voice_id = voice.get("id") if isinstance(voice, dict) else voice
    try:
        return str(service.voices.reference(voice_id, owner_of(request)))
    except InputError:
        raise field_error("voice", f"`voice` must be the id of a saved voice; got {voice_id!r}. This server has "
                                   f"no built-in voices (alloy, ...): save one with POST /v1/audio/voices (a 3-30 s "
                                   f"clip) and pass its id.", "voice_not_found") from None
