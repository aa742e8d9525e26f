"""The Hugging Face Inference API under ``/models/<task>``: ``InferenceClient(model="http://HOST:PORT/models/<task>")``.

    from huggingface_hub import InferenceClient
    InferenceClient(model="http://127.0.0.1:7860/models/text-classification").text_classification("Great!")
    InferenceClient(model="http://127.0.0.1:7860/models/sentiment/tiny")       # another model: /models/<task>/<id>

Requests follow ``huggingface_hub`` 2.4's ``hf-inference`` provider (``inference/_providers/hf_inference.py``): JSON
``{"inputs": ..., "parameters": {...}}`` for text inputs; the raw file as the body for binary inputs (images, audio),
or ``{"inputs": <base64>, "parameters": {...}}`` when parameters come with it; chat at ``/models/<task>/v1/chat/
completions`` (`spaces.api.openai_chat`). Answers follow each HF task's output spec as the client parses it.

`ROUTES` is the table: a URL name (an HF task name, or an mmhub task name or alias through `pipelines.resolve_task`)
-> the mmhub task, the HF task whose shapes it follows (`KINDS`), the parameters it takes and the call. A new task is
one entry when its HF task's shapes exist here (e.g. ``text-to-song`` as ``text-to-audio``). An unknown parameter is a
400 naming ``parameters.<name>``. Long work (style transfer, DeepDream, long music or separation) belongs to the job
routes, not here.

Notes per task (the client call that works unchanged, and what answers):

- ``text-classification`` / ``sentiment``: ``text_classification(text, top_k=)`` -> labels and scores, best first
  (``function_to_apply`` takes only ``softmax``, which the pipeline applies);
- ``text-generation``: ``text_generation(prompt, max_new_tokens=, details=, stream=, stop=, seed=, ...)`` -> TGI's
  shapes. Sampling when ``do_sample`` is true or a sampling parameter (temperature, top_k, top_p) is given, greedy
  otherwise; ``max_new_tokens`` defaults to 128 (the pipeline's). A stream is sent once generated, token by token
  (exact ids and log-probabilities);
- ``chat_completion`` at ``/models/text-generation`` (the model is the URL's unless the body names another than the
  client's ``dummy``);
- ``text-to-image``, ``image-to-image`` (``prompt=``, ``negative_prompt=``, ``num_inference_steps=``,
  ``guidance_scale=``, ``target_size=``, ``seed=`` / ``strength=`` in ``extra_body``) -> PNG (or JPEG by ``Accept``);
- ``text-to-speech``: ``text_to_speech(text, extra_body={"voice": "<saved voice id>", "language": "pl"})`` -> FLAC
  (WAV, MP3 or Ogg/Opus by ``Accept``). Voice cloning always needs a saved voice (``POST /v1/audio/voices``);
- ``audio-to-audio`` / ``separation``: ``audio_to_audio(clip)`` -> one element per stem ``{"label": "vocals",
  "content-type": "audio/flac", "blob": <base64>}`` (HF's source-separation answer);
- ``image-classification`` / ``digit-recognition``: ``image_classification(image, top_k=)`` -> digits and scores;
- ``text-to-video``: the HF payload ``{"inputs": prompt, "parameters": {"num_frames", "num_inference_steps",
  "guidance_scale", "negative_prompt", "seed"}}`` -> MP4. ``InferenceClient.text_to_video`` itself refuses a URL model
  in huggingface_hub 2.4 (its ``hf-inference`` provider has no text-to-video helper: "Task 'text-to-video' not
  supported for provider 'hf-inference'"), so send that payload with any HTTP client;
- nearest HF tasks for the rest: ``text-to-music`` as ``text-to-audio`` (``text_to_speech(prompt,
  extra_body={"duration": 2})`` works), ``voice-conversion`` as ``audio-to-audio`` with ``parameters.voice``,
  ``autoencoder`` as ``image-to-image`` (the reconstruction), ``gan`` as ``unconditional-image-generation``
  (``{"parameters": {"seed": 0}}`` -> PNG).
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import logging
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from pipelines import TASKS, resolve_task

from .audio_codec import encode as encode_audio
from .errors import ApiError, field_error
from .service import Service, get_service

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/models", tags=["hugging face"])


# -- parameters ---------------------------------------------------------------------------------------------------


def _number(low: float, high: float, integer: bool = False) -> Callable[[str, Any], Any]:
    def check(name: str, value: Any) -> Any:
        from pipelines import validate

        if integer:
            return validate.integer(name, value, low=int(low), high=int(high))
        return validate.number(name, value, low=low, high=high)

    return check


def _text(name: str, value: Any) -> str:
    from pipelines import validate

    return validate.text(name, value, allow_empty=True, max_chars=32000)


def _flag(name: str, value: Any) -> bool:
    from pipelines import validate

    return validate.boolean(name, value)


def _only(*allowed: Any) -> Callable[[str, Any], Any]:
    def check(name: str, value: Any) -> Any:
        if value not in allowed:
            raise ApiError(400, f"`{name}` is not supported by this server except as {allowed!r}; got {value!r}.",
                           param=name, code="unsupported_parameter")
        return value

    return check


def _stops(name: str, value: Any) -> list[str]:
    from pipelines.generation_params import check_stop

    return check_stop(value)


def _target_size(name: str, value: Any) -> dict[str, int]:
    if not isinstance(value, dict) or set(value) - {"width", "height"}:
        raise field_error(name, f"`{name}` must be {{'width': W, 'height': H}}.")
    return {k: _number(8, 4096, integer=True)(f"{name}.{k}", v) for k, v in value.items()}


SEED = _number(0, 2**63 - 1, integer=True)
STEPS = _number(1, 1000, integer=True)
GUIDANCE = _number(0, 50)
TOP_K = _number(1, 1000, integer=True)
CLASSIFY = {"top_k": TOP_K, "function_to_apply": _only("softmax")}
IMAGE = {"negative_prompt": _text, "num_inference_steps": STEPS, "guidance_scale": GUIDANCE, "seed": SEED,
         "height": _number(8, 4096, integer=True), "width": _number(8, 4096, integer=True),
         "target_size": _target_size}
TGI = {"max_new_tokens": _number(1, 2**20, integer=True), "temperature": _number(0.01, 100), "top_p": _number(0, 1),
       "top_k": _number(0, 10**6, integer=True), "repetition_penalty": _number(0.01, 10), "do_sample": _flag,
       "seed": SEED, "stop": _stops, "details": _flag, "return_full_text": _flag,
       "top_n_tokens": _number(0, 20, integer=True), "decoder_input_details": _only(False),
       "best_of": _only(1), "watermark": _only(False), "frequency_penalty": _only(0, 0.0),
       "truncate": _only(None), "typical_p": _only(None, 1.0), "grammar": _only(None), "adapter_id": _only(None),
       "stop_sequences": _stops}


# -- inputs -------------------------------------------------------------------------------------------------------


@dataclass
class HfInput:
    """One request: its ``inputs`` (text, or the bytes of a file), its checked ``parameters`` and whether to stream."""

    inputs: Any
    parameters: dict[str, Any]
    stream: bool = False
    accept: str = ""


async def read_input(request: Request, route: HfRoute) -> HfInput:
    """Parse the body the client sent for `route` (JSON, or a raw file for binary tasks)."""
    body = await request.body()
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    accept = request.headers.get("accept", "")
    if route.binary and content_type != "application/json":
        if not body:
            raise field_error("inputs", "The request body is empty: send the file as the body (or JSON "
                                        "{'inputs': <base64>, 'parameters': {...}}).")
        return HfInput(body, {}, accept=accept)
    try:
        data = json.loads(body) if body else {}
    except (ValueError, UnicodeDecodeError) as err:
        raise field_error("body", f"The request body is not valid JSON ({err}).", "invalid_json") from None
    if not isinstance(data, dict):
        raise field_error("body", "The request body must be a JSON object {'inputs': ..., 'parameters': {...}}.")
    extra = set(data) - {"inputs", "parameters", "stream", "options"}
    if extra:
        name = sorted(extra)[0]
        raise field_error(name, f"`{name}` is not a field of the Inference API payload ('inputs', 'parameters').",
                          "unknown_parameter")
    options = data.get("options") or {}
    if not isinstance(options, dict) or set(options) - {"wait_for_model", "use_cache"}:
        raise field_error("options", "`options` takes only 'wait_for_model' and 'use_cache'.")
    inputs = data.get("inputs")
    if route.needs_inputs and inputs is None:
        raise field_error("inputs", "`inputs` is required.", "missing_required_parameter")
    if route.binary and inputs is not None:
        if not isinstance(inputs, str):
            raise field_error("inputs", "`inputs` must be the file as base64 text.")
        try:
            inputs = base64.b64decode(inputs, validate=True)
        except (binascii.Error, ValueError):
            raise field_error("inputs", "`inputs` is not valid base64.") from None
    raw = data.get("parameters") or {}
    if not isinstance(raw, dict):
        raise field_error("parameters", "`parameters` must be an object.")
    parameters = {}
    for name, value in raw.items():
        if value is None:
            continue
        check = route.params.get(name)
        if check is None:
            raise field_error(f"parameters.{name}", f"`{name}` is not a parameter of {route.name} here; it takes "
                                                    f"{', '.join(sorted(route.params)) or 'none'}.",
                              "unknown_parameter")
        parameters[name] = check(f"parameters.{name}", value)
    stream = data.get("stream", False)
    if stream not in (True, False, None):
        raise field_error("stream", "`stream` must be true or false.")
    if stream and not route.streams:
        raise field_error("stream", f"{route.name} does not stream here.")
    return HfInput(inputs, parameters, bool(stream), accept)


def _text_input(value: Any) -> str:
    if not isinstance(value, str):
        raise field_error("inputs", "`inputs` must be text.")
    return value


def _image_bytes(picture: Any, accept: str) -> Response:
    fmt, media = ("JPEG", "image/jpeg") if "image/jpeg" in accept else ("PNG", "image/png")
    buffer = io.BytesIO()
    picture.convert("RGB").save(buffer, format=fmt)
    return Response(buffer.getvalue(), media_type=media)


def _audio_bytes(audio: np.ndarray, rate: int, accept: str) -> Response:
    fmt = next((f for f, media in (("wav", "audio/wav"), ("mp3", "audio/mpeg"), ("opus", "audio/ogg"),
                                    ("flac", "audio/flac")) if media in accept or f"audio/x-{f}" in accept), "flac")
    data, media_type = encode_audio(np.asarray(audio, np.float32).reshape(-1), rate, fmt)
    return Response(data, media_type=media_type)


def _temp_file(data: bytes, suffix: str = ".bin") -> str:
    handle, path = tempfile.mkstemp(prefix="mmhub-upload-", suffix=suffix)
    with os.fdopen(handle, "wb") as out:
        out.write(data)
    return path


def _with_file(data: bytes, fn: Callable[[str], Any]) -> Any:
    path = _temp_file(data)
    try:
        return fn(path)
    finally:
        os.unlink(path)


def _renamed(err: ApiError, names: dict[str, str]) -> ApiError:
    if err.param in names:
        err.message, err.param = err.message.replace(f"`{err.param}`", f"`{names[err.param]}`"), names[err.param]
    return err


# -- the calls, one per task ---------------------------------------------------------------------------------------


async def classify_text(service: Service, request: Request, pipe: Any, item: HfInput) -> Any:
    texts = item.inputs
    if not (isinstance(texts, str) or (isinstance(texts, list) and texts and all(isinstance(t, str) for t in texts))):
        raise field_error("inputs", "`inputs` must be a text or a non-empty list of texts.")
    try:
        results = await service.run(request, "sentiment", pipe, texts)
    except ApiError as err:
        raise _renamed(err, {"inputs[0]": "inputs"}) from None
    top = item.parameters.get("top_k")
    ranked = [sorted(({"label": k, "score": v} for k, v in r.scores.items()), key=lambda e: -e["score"])[:top]
              for r in (results if isinstance(results, list) else [results])]
    return ranked  # one list per input text (HF's text-classification answer; the client reads [0] for one text)


async def classify_digit(service: Service, request: Request, pipe: Any, item: HfInput) -> Any:
    from .openai_images import read_upload_image

    picture = await service.offload(read_upload_image, item.inputs, "inputs")
    try:
        result = await service.run(request, "digit-recognition", pipe, picture, top_k=10)
    except ApiError as err:
        raise _renamed(err, {"image": "inputs"}) from None
    labels = getattr(result, "labels", None) or [str(i) for i in range(len(result.probabilities))]
    ranked = sorted(({"label": str(labels[i]), "score": float(p)} for i, p in enumerate(result.probabilities)),
                    key=lambda e: -e["score"])
    return ranked[: item.parameters.get("top_k")]


def _tgi_params(parameters: dict[str, Any]) -> dict[str, Any]:
    sampling = {k: parameters[k] for k in ("temperature", "top_p", "top_k") if k in parameters}
    sample = parameters.get("do_sample", False) or bool(sampling)
    params: dict[str, Any] = {"max_new_tokens": parameters.get("max_new_tokens", 128), "seed": parameters.get("seed"),
                              "stop": (parameters.get("stop") or []) + (parameters.get("stop_sequences") or [])
                              or None}
    if sample:
        params |= {"temperature": sampling.get("temperature", 1.0), "top_p": sampling.get("top_p", 1.0),
                   "top_k": sampling.get("top_k"), "do_sample": True}
    else:
        params |= {"temperature": 0, "top_p": None}
    if "repetition_penalty" in parameters:
        params["repetition_penalty"] = parameters["repetition_penalty"]
    return params


def _tgi_tokens(gen: Any, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """TGI's tokens: id, log-probability, and the text each adds (incremental decoding, so they join to the text)."""
    tokens, ids, before = [], [], ""
    for entry in entries:
        ids.append(entry["id"])
        text = gen.tokenizer.decode(ids, skip_special_tokens=True)
        piece = text[len(before):] if text.startswith(before) and not text.endswith("\ufffd") else ""
        if piece:
            before = text
        tokens.append({"id": entry["id"], "text": piece, "logprob": entry["logprob"], "special": False})
    if tokens and before != gen.tokenizer.decode(ids, skip_special_tokens=True):  # a tail held back
        tokens[-1]["text"] += gen.tokenizer.decode(ids, skip_special_tokens=True)[len(before):]
    return tokens


async def generate_text(service: Service, request: Request, pipe: Any, item: HfInput) -> Any:
    prompt = _text_input(item.inputs)
    params = _tgi_params(item.parameters)
    details, top = item.parameters.get("details", False), item.parameters.get("top_n_tokens", 0)
    local = service.ctx.llm is None
    wants_tokens = (details or item.stream) and local
    try:
        result = await service.run(request, "text-generation", pipe, prompt, **params,
                                   **({"logprobs": top} if wants_tokens else {}))
    except ApiError as err:
        raise _renamed(err, {"prompt": "inputs", "max_new_tokens": "parameters.max_new_tokens"}) from None
    text = prompt + result.text if item.parameters.get("return_full_text") else result.text
    finish = {"length": "length"}.get(result.finish_reason, "stop_sequence" if params["stop"] else "eos_token")
    tokens = _tgi_tokens(pipe, result.logprobs) if wants_tokens else []
    info = {"finish_reason": finish, "generated_tokens": result.new_tokens, "seed": result.seed}
    if item.stream:
        return StreamingResponse(_tgi_events(tokens, result, text, info), media_type="text/event-stream")
    if not details:
        return [{"generated_text": text}]
    answer = {"generated_text": text, "details": info | {"prefill": [], "tokens": tokens}}
    if top:
        answer["details"]["top_tokens"] = [[{"id": t["id"], "text": t["token"], "logprob": t["logprob"],
                                             "special": False} for t in e["top"]] for e in result.logprobs]
    return [answer]


async def _tgi_events(tokens: list[dict[str, Any]], result: Any, text: str, info: dict[str, Any]) -> Any:
    for index, token in enumerate(tokens):
        last = index == len(tokens) - 1
        event = {"index": index + 1, "token": token, "generated_text": text if last else None,
                 "details": info | {"input_length": result.prompt_tokens} if last else None}
        yield f"data: {json.dumps(event)}\n\n"


async def text_to_image(service: Service, request: Request, pipe: Any, item: HfInput) -> Any:
    settings = _image_settings(item.parameters)
    prompt = _text_input(item.inputs)

    def run() -> Any:
        with pipe.using_lora(None):  # one call at a time, without a LoRA another request applied
            return pipe(prompt, **settings)

    result = await _run_image(service, request, "text-to-image", run)
    return _image_bytes(result.images[0], item.accept)


def _image_settings(parameters: dict[str, Any]) -> dict[str, Any]:
    settings = {k: v for k, v in parameters.items() if k not in ("target_size", "prompt", "strength")}
    settings |= parameters.get("target_size") or {}
    if "strength" in parameters:
        settings["strength"] = parameters["strength"]
    return settings


async def _run_image(service: Service, request: Request, task: str, fn: Callable[[], Any]) -> Any:
    try:
        return await service.run(request, "text-to-image", fn)  # the text-to-image slot: image-to-image shares it
    except ApiError as err:
        raise _renamed(err, {"prompt": "inputs", "width": "parameters.width", "height": "parameters.height",
                             "image": "inputs"}) from None
    finally:
        request.state.task = task


async def image_to_image(service: Service, request: Request, pipe: Any, item: HfInput) -> Any:
    from .openai_images import _image_of, read_upload_image

    picture = await service.offload(read_upload_image, item.inputs, "inputs")
    prompt = item.parameters.get("prompt")
    if not prompt:
        raise field_error("parameters.prompt", "`prompt` is required for image-to-image (image_to_image(image, "
                                               "prompt=...)).", "missing_required_parameter")
    settings = _image_settings(item.parameters)
    def run() -> Any:
        i2i = _image_of(pipe, service)
        with i2i.using_lora(None):  # its lock is the text-to-image pipeline's; no earlier request's LoRA
            return i2i(prompt, image=picture, **settings)

    result = await _run_image(service, request, "image-to-image", run)
    return _image_bytes(result.images[0], item.accept)


async def reconstruct(service: Service, request: Request, pipe: Any, item: HfInput) -> Any:
    from .openai_images import read_upload_image

    picture = await service.offload(read_upload_image, item.inputs, "inputs")
    result = await service.run(request, "autoencoder", pipe, picture, **item.parameters)
    return _image_bytes(result.reconstruction, item.accept)


async def draw(service: Service, request: Request, pipe: Any, item: HfInput) -> Any:
    result = await service.run(request, "gan", pipe, n=1, seed=item.parameters.get("seed"))
    return _image_bytes(result.images[0], item.accept)


async def speak(service: Service, request: Request, pipe: Any, item: HfInput) -> Any:
    from .language import speech_language
    from .voices import reference_for

    text = _text_input(item.inputs)
    voice = item.parameters.get("voice")
    if voice is None:
        raise field_error("parameters.voice", "Voice cloning needs a saved voice: pass extra_body={'voice': "
                                              "'<id>'} (save one with POST /v1/audio/voices).",
                          "missing_required_parameter")
    reference = reference_for(service, request, voice)
    language = speech_language(item.parameters.get("language"), text)
    try:
        result = await service.run(request, "voice-cloning", pipe, text, reference=reference, language=language,
                                   seed=item.parameters.get("seed"))
    except ApiError as err:
        raise _renamed(err, {"text": "inputs", "reference": "parameters.voice"}) from None
    return _audio_bytes(result.audio, result.sample_rate, item.accept)


async def compose(service: Service, request: Request, pipe: Any, item: HfInput) -> Any:
    result = await service.run(request, "text-to-music", pipe, _text_input(item.inputs), **item.parameters)
    return _audio_bytes(result.audio, result.sample_rate, item.accept)


async def separate(service: Service, request: Request, pipe: Any, item: HfInput) -> Any:
    try:
        result = await service.run(request, "separation", _with_file, item.inputs,
                                   lambda path: pipe(path, **item.parameters))
    except ApiError as err:
        raise _renamed(err, {"audio": "inputs"}) from None
    stems = []
    for name, audio in result.stems.items():
        import soundfile as sf

        buffer = io.BytesIO()
        sf.write(buffer, np.asarray(audio, np.float32).T, result.sample_rate, format="FLAC", subtype="PCM_16")
        stems.append({"label": name, "content-type": "audio/flac",
                      "blob": base64.b64encode(buffer.getvalue()).decode()})
    return stems


async def convert_voice(service: Service, request: Request, pipe: Any, item: HfInput) -> Any:
    from .voices import reference_for

    voice = item.parameters.get("voice")
    if voice is None:
        raise field_error("parameters.voice", "Voice conversion needs a saved voice: parameters.voice = '<id>'.",
                          "missing_required_parameter")
    reference = reference_for(service, request, voice)
    try:
        result = await service.run(request, "voice-conversion", _with_file, item.inputs,
                                   lambda path: pipe(path, reference=reference))
    except ApiError as err:
        raise _renamed(err, {"speech": "inputs"}) from None
    buffer = io.BytesIO()
    import soundfile as sf

    sf.write(buffer, result.audio, result.sample_rate, format="FLAC", subtype="PCM_16")
    return [{"label": "converted", "content-type": "audio/flac", "blob": base64.b64encode(buffer.getvalue()).decode()}]


async def make_video(service: Service, request: Request, pipe: Any, item: HfInput) -> Any:
    prompt = _text_input(item.inputs)
    result = await service.run(request, "text-to-video", pipe, prompt, **item.parameters)
    folder = tempfile.mkdtemp(prefix="mmhub-video-")
    try:
        path = await service.offload(result.save, os.path.join(folder, "video.mp4"))
        data = path.read_bytes()
    finally:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)
    return Response(data, media_type="video/mp4", headers={"X-Mmhub-Seed": str(result.seed)})


# -- the table ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HfRoute:
    """One ``/models/<name>`` route: the mmhub `task`, the HF task `kind` whose shapes it follows, the parameters
    (name -> check), the call, whether the input is a file (`binary`), and the tiny model for ``--models tiny``."""

    name: str
    task: str
    kind: str
    call: Callable[..., Any]
    params: dict[str, Callable[[str, Any], Any]] = field(default_factory=dict)
    binary: bool = False
    streams: bool = False
    needs_inputs: bool = True
    tiny_variant: str = "tiny"


ROUTES: dict[str, HfRoute] = {route.name: route for route in (
    HfRoute("text-classification", "sentiment", "text-classification", classify_text, CLASSIFY),
    HfRoute("text-generation", "text-generation", "text-generation", generate_text, TGI, streams=True),
    HfRoute("text-to-image", "text-to-image", "text-to-image", text_to_image, IMAGE),
    HfRoute("image-to-image", "text-to-image", "image-to-image", image_to_image,
            IMAGE | {"prompt": _text, "strength": _number(0, 1)}, binary=True),
    HfRoute("text-to-speech", "voice-cloning", "text-to-speech", speak,
            {"voice": _text, "language": _text, "seed": SEED}),
    HfRoute("audio-to-audio", "separation", "audio-to-audio", separate,
            {"shifts": _number(1, 20, integer=True), "two_stems": _text, "seed": SEED}, binary=True),
    HfRoute("image-classification", "digit-recognition", "image-classification", classify_digit, CLASSIFY,
            binary=True),
    HfRoute("text-to-video", "text-to-video", "text-to-video", make_video,
            {"num_frames": _number(1, 241, integer=True), "num_inference_steps": STEPS, "guidance_scale": GUIDANCE,
             "negative_prompt": _text, "seed": SEED, "height": _number(8, 4096, integer=True),
             "width": _number(8, 4096, integer=True)}),
    HfRoute("text-to-audio", "text-to-music", "text-to-audio", compose,
            {"duration": _number(0.1, 600), "seed": SEED, "guidance_scale": GUIDANCE}),
    HfRoute("voice-conversion", "voice-conversion", "audio-to-audio", convert_voice, {"voice": _text}, binary=True),
    HfRoute("autoencoder", "autoencoder", "image-to-image", reconstruct, {"seed": SEED}, binary=True),
    HfRoute("unconditional-image-generation", "gan", "unconditional-image-generation", draw, {"seed": SEED},
            needs_inputs=False),
)}


def route_for(name: str) -> HfRoute:
    """The route a URL names: an HF task name, or an mmhub task name / alias (the first route serving that task)."""
    if name in ROUTES:
        return ROUTES[name]
    try:
        task = resolve_task(name).name
    except Exception:  # noqa: BLE001 - InputError with the known names
        task = None
    found = next((r for r in ROUTES.values() if r.task == task), None)
    if found is None:
        known = sorted(set(ROUTES) | {r.task for r in ROUTES.values()})
        raise ApiError(404, f"No Inference API task {name!r} here; known: {', '.join(known)}.", param="task",
                       code="task_not_found")
    return found


async def infer(name: str, model: str | None, request: Request, service: Service) -> Any:
    route = route_for(name)
    request.state.task = route.task
    item = await read_input(request, route)
    pipe = await service.pipeline(request, route.task, model, tiny_variant=route.tiny_variant)
    answer = await route.call(service, request, pipe, item)
    return answer if isinstance(answer, Response) else JSONResponse(answer)


HF_DOC = {"requestBody": {"content": {
    "application/json": {"schema": {"type": "object", "properties": {
        "inputs": {}, "parameters": {"type": "object"}, "stream": {"type": "boolean"}}}},
    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}}
ANSWERS = {200: {"description": "JSON (labels, generated text, stems) or a file (image, audio, video), per task.",
                 "content": {"application/json": {"schema": {}}, "image/png": {"schema": {"type": "string"}},
                             "audio/flac": {"schema": {"type": "string"}}, "video/mp4": {"schema": {"type": "string"}},
                             "text/event-stream": {"schema": {"type": "string"}}}}}


@router.post("/{task}/v1/chat/completions", summary="Chat (InferenceClient.chat_completion)", include_in_schema=False)
async def hf_chat(task: str, request: Request, service: Service = Depends(get_service)) -> Any:
    return await _chat(task, None, request, service)


@router.post("/{task}/{model:path}/v1/chat/completions", include_in_schema=False)
async def hf_chat_model(task: str, model: str, request: Request, service: Service = Depends(get_service)) -> Any:
    return await _chat(task, model, request, service)


async def _chat(task: str, model: str | None, request: Request, service: Service) -> Any:
    """InferenceClient's chat: OpenAI's chat route, with the URL's model when the client sends its ``dummy``."""
    from pydantic import ValidationError

    from .errors import validation_message
    from .openai_chat import ChatRequest, chat_completions

    if route_for(task).task != "text-generation":
        raise ApiError(404, f"{task!r} does not chat; use /models/text-generation.", param="task")
    try:
        data = json.loads(await request.body() or b"{}")
    except ValueError as err:
        raise field_error("body", f"The request body is not valid JSON ({err}).", "invalid_json") from None
    if isinstance(data, dict) and data.get("model") in (None, "dummy"):
        data["model"] = model or service.ctx.default_model("text-generation", "tiny-chat")
    try:
        body = ChatRequest.model_validate(data)
    except ValidationError as err:
        param, message, code = validation_message(err.errors()[0], ChatRequest)
        raise field_error(param, message, code) from None
    return await chat_completions(body, request, service)


@router.post("/{task}", summary="Hugging Face Inference API: a task's default model", openapi_extra=HF_DOC,
             responses=ANSWERS)
async def hf_task(task: str, request: Request, service: Service = Depends(get_service)) -> Any:
    return await infer(task, None, request, service)


@router.post("/{task}/{model:path}", summary="Hugging Face Inference API: another model (its id)",
             openapi_extra=HF_DOC, responses=ANSWERS)
async def hf_task_model(task: str, model: str, request: Request, service: Service = Depends(get_service)) -> Any:
    return await infer(task, model, request, service)


@router.get("", summary="The Inference API tasks served here")
def hf_tasks() -> dict[str, Any]:
    return {"tasks": [{"name": r.name, "task": r.task, "pipeline_tag": r.kind, "parameters": sorted(r.params),
                       "default_model": TASKS[r.task].default.id} for r in ROUTES.values()]}
