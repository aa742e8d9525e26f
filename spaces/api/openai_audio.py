"""``POST /v1/audio/speech``: speech from text in a saved voice (voice cloning), in OpenAI's request shape.

    curl http://127.0.0.1:7860/v1/audio/speech -H 'Content-Type: application/json' -o out.wav \\
        -d '{"model": "tiny", "input": "Hello there.", "voice": "voice_0123456789abcdef", "response_format": "wav"}'

Fields: ``model`` (a voice-cloning model: GET /v1/models), ``input`` (at most 2000 characters: the pipeline's bound,
below OpenAI's 4096), ``voice`` (a saved voice's id, or OpenAI's ``{"id": ...}``: **cloning always needs a voice**;
this server has no built-in voices such as ``alloy``, so save one first with ``POST /v1/audio/voices``),
``response_format`` (default mp3, as OpenAI's; wav, flac, mp3, opus, pcm; aac is refused: `audio_codec`), ``speed``
(0.25-4, WSOLA tempo change), ``stream_format: "audio"`` (the whole file as one answer). mmhub extras: ``language``
(ISO 639 code; default: detected from ``input`` with langdetect, then the voice-cloning route for it: Pocket TTS for
English, MMS-TTS + kNN-VC for the others) and ``seed``. ``instructions`` and ``stream_format: "sse"`` are refused.
The answer's headers say what ran: ``X-Mmhub-Language``, ``X-Mmhub-Route``, ``X-Mmhub-Seed``.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from .audio_codec import FORMATS, SPEED_RANGE, change_speed, encode
from .errors import ApiError
from .fields import OpenAIRequest, register
from .language import speech_language
from .service import Service, get_service
from .voices import reference_for

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/v1", tags=["openai"])
TASK = "voice-cloning"


class VoiceId(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str


@register("/v1/audio/speech")
class SpeechRequest(OpenAIRequest):
    """OpenAI's speech request (the fields this server honours), plus ``language`` and ``seed``."""

    ENDPOINT: ClassVar[str] = "speech"
    NEUTRAL: ClassVar[dict[str, tuple[Any, ...]]] = {"instructions": ("",), "stream_format": ("audio",)}
    model: str = Field(min_length=1)
    input: str = Field(min_length=1, max_length=4096)
    voice: str | VoiceId = Field(description="A saved voice's id (POST /v1/audio/voices); no built-in voices here.")
    response_format: Literal["mp3", "opus", "aac", "flac", "wav", "pcm"] = "mp3"
    speed: float = Field(1.0, ge=SPEED_RANGE[0], le=SPEED_RANGE[1])
    language: str | None = Field(None, max_length=64, description="mmhub extra: ISO 639 code; default: detected.")
    seed: int | None = Field(None, ge=0, le=2**63 - 1, description="mmhub extra: repeatable speech.")


AUDIO_DOC = {200: {"content": {f"audio/{f}": {"schema": {"type": "string", "format": "binary"}} for f in
                               ("mpeg", "ogg", "flac", "wav", "pcm")}, "description": "The audio file."}}


@router.post("/audio/speech", response_class=Response, responses=AUDIO_DOC,
             summary="Speech in a saved voice (OpenAI: audio.speech.create)")
async def speech(body: SpeechRequest, request: Request, service: Service = Depends(get_service)) -> Response:
    if body.response_format not in FORMATS or body.response_format == "aac":
        encode(None, 0, "aac")  # raises the 400 naming response_format
    reference = reference_for(service, request, body.voice.id if isinstance(body.voice, VoiceId) else body.voice)
    language = speech_language(body.language, body.input)
    vc = await service.pipeline(request, TASK, body.model)
    try:
        result = await service.run(request, TASK, vc, body.input, reference=reference, language=language,
                                   seed=body.seed)
    except ApiError as err:  # the pipeline's names for the request's fields
        renamed = {"text": "input", "reference": "voice"}.get(err.param or "")
        if renamed:
            err.message, err.param = err.message.replace(f"`{err.param}`", f"`{renamed}`"), renamed
        raise
    audio = await service.offload(change_speed, result.audio, result.sample_rate, body.speed)
    data, media_type = await service.offload(encode, audio, result.sample_rate, body.response_format)
    return Response(data, media_type=media_type, headers={
        "X-Mmhub-Language": str(result.language or language), "X-Mmhub-Route": result.route,
        "X-Mmhub-Seed": str(result.seed), "X-Mmhub-Sample-Rate": str(result.sample_rate)})
