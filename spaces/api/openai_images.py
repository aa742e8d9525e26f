"""``POST /v1/images/generations`` (text to image) and ``POST /v1/images/edits`` (image to image), OpenAI's shape.

    curl http://127.0.0.1:7860/v1/images/generations -H 'Content-Type: application/json' \\
        -d '{"model": "tiny", "prompt": "a red fox", "size": "64x64", "response_format": "b64_json", "seed": 0}'

Fields: ``prompt``, ``model`` (default: the task's default model), ``n`` (1-8), ``size`` (``WxH`` in multiples of 8,
or ``auto``: the model's native size), ``response_format`` (``b64_json``, the default here: this server keeps no
files to link to, so ``url`` is refused), ``output_format`` (png, jpeg or webp) with ``output_compression`` (0-100,
jpeg / webp), ``user``. mmhub's extras: ``seed`` (the answer's ``seed`` and ``X-Mmhub-Seed`` say which ran),
``num_inference_steps``, ``guidance_scale``, ``negative_prompt``, ``lora`` (LoRA folders under
``--allow-local-models`` or Hub ids, comma-separated or a list) and ``lora_scale``; edits also ``strength``.
``quality`` (auto / standard), ``style``, ``background: auto``, ``moderation: auto`` and ``stream: false`` have
nothing to change here and are accepted with those values only; a ``mask`` (inpainting) is refused.

Edits are a multipart form: ``image`` (one file; OpenAI's SDK sends ``image``, or ``image[]`` for several, which are
refused beyond one), ``prompt`` and the fields above as form values. They run image-to-image on the text-to-image
model's loaded weights (as the app's Image tab does: one copy of the weights).
"""

from __future__ import annotations

import base64
import io
import logging
import time
import weakref
from typing import Any, ClassVar, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field, ValidationError

from pipelines.images import load_image

from ..image_generation import parse_loras
from .errors import ApiError, field_error, from_exception, unsupported, validation_message
from .fields import OpenAIRequest, read_multipart, register
from .service import Service, get_service

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/v1", tags=["openai"])
T2I, I2I = "text-to-image", "image-to-image"
MAX_IMAGES = 8
IMAGE_NEUTRAL: dict[str, tuple[Any, ...]] = {
    "quality": ("auto", "standard"), "style": (), "background": ("auto",), "moderation": ("auto",),
    "stream": (False,), "partial_images": (0,),
}


class _ImageFields(OpenAIRequest):
    prompt: str = Field(min_length=1, max_length=32000)
    model: str | None = Field(None, min_length=1)
    n: int | None = Field(None, ge=1, le=MAX_IMAGES)
    size: str | None = Field(None, description="WxH (multiples of 8) or 'auto' (the model's native size).")
    response_format: Literal["b64_json", "url"] | None = None
    output_format: Literal["png", "jpeg", "webp"] | None = None
    output_compression: int | None = Field(None, ge=0, le=100)
    user: str | None = Field(None, max_length=256)
    safety_identifier: str | None = Field(None, max_length=256)
    seed: int | None = Field(None, ge=0, le=2**63 - 1, description="mmhub extra: the same seed, the same images.")
    num_inference_steps: int | None = Field(None, ge=1, le=1000, description="mmhub extra.")
    guidance_scale: float | None = Field(None, ge=0, le=50, description="mmhub extra.")
    negative_prompt: str | None = Field(None, max_length=32000, description="mmhub extra.")
    lora: str | list[str] | None = Field(None, description="mmhub extra: LoRA folders or Hub ids.")
    lora_scale: float | None = Field(None, ge=-4, le=4, description="mmhub extra: 1 by default.")


@register("/v1/images/generations")
class ImageGenerationRequest(_ImageFields):
    ENDPOINT: ClassVar[str] = "images.generate"
    NEUTRAL: ClassVar[dict[str, tuple[Any, ...]]] = IMAGE_NEUTRAL


@register("/v1/images/edits")
class ImageEditRequest(_ImageFields):
    ENDPOINT: ClassVar[str] = "images.edit"
    NEUTRAL: ClassVar[dict[str, tuple[Any, ...]]] = IMAGE_NEUTRAL | {"input_fidelity": ()}
    strength: float | None = Field(None, gt=0, le=1, description="mmhub extra: how far from the image (0-1].")


class ImageData(BaseModel):
    b64_json: str
    revised_prompt: str | None = None


class ImagesResponse(BaseModel):
    created: int
    data: list[ImageData]
    output_format: Literal["png", "jpeg", "webp"]
    size: str
    seed: int = Field(description="mmhub extra: the seed that made these images.")


def _size(size: str | None) -> dict[str, int]:
    if size is None or size == "auto":
        return {}
    parts = size.lower().split("x")
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        raise field_error("size", f"`size` must be 'WIDTHxHEIGHT' (e.g. '512x512') or 'auto'; got {size!r}.")
    width, height = (int(p) for p in parts)
    return {"width": width, "height": height}


def _encode(images: list[Any], output_format: str, compression: int | None) -> list[ImageData]:
    data = []
    for image in images:
        buffer = io.BytesIO()
        options = {"quality": compression} if compression is not None and output_format != "png" else {}
        image.convert("RGB").save(buffer, format=output_format.upper(), **options)
        data.append(ImageData(b64_json=base64.b64encode(buffer.getvalue()).decode()))
    return data


def _check(body: _ImageFields, service: Service) -> tuple[list[str] | None, float]:
    if body.response_format == "url":
        raise unsupported("response_format", "this server returns images inline only; use 'b64_json'")
    if body.output_compression is not None and body.output_format in (None, "png"):
        raise field_error("output_compression", "`output_compression` applies to jpeg and webp only.")
    if body.user or body.safety_identifier:
        logger.info("end user: %s", body.safety_identifier or body.user)
    lora = ",".join(body.lora) if isinstance(body.lora, list) else body.lora
    try:
        loras = parse_loras(service.ctx, lora)
    except Exception as err:  # noqa: BLE001 - gr.Error (a folder outside --allow-local-models) or InputError
        raise from_exception(err, "lora") from None
    if loras is None and body.lora_scale is not None:
        raise field_error("lora_scale", "`lora_scale` needs a `lora`.")
    return loras, 1.0 if body.lora_scale is None else body.lora_scale


def _settings(body: _ImageFields) -> dict[str, Any]:
    settings = {"num_images": body.n or 1, "seed": body.seed, "num_inference_steps": body.num_inference_steps,
                "guidance_scale": body.guidance_scale, "negative_prompt": body.negative_prompt}
    return {k: v for k, v in settings.items() if v is not None} | _size(body.size)


def _renamed(err: ApiError) -> ApiError:
    """The pipeline's argument names as the request's fields."""
    names = {"width": "size", "height": "size", "num_images": "n", "image": "image"}
    if err.param in names:
        err.message, err.param = err.message.replace(f"`{err.param}`", f"`{names[err.param]}`"), names[err.param]
    return err


def _answer(result: Any, body: _ImageFields) -> ImagesResponse:
    output_format = body.output_format or "png"
    return ImagesResponse(created=int(time.time()), data=_encode(result.images, output_format,
                                                                  body.output_compression),
                          output_format=output_format, size=f"{result.width}x{result.height}", seed=result.seed)


@router.post("/images/generations", response_model=ImagesResponse,
             summary="Images from a prompt (OpenAI: images.generate)")
async def generations(body: ImageGenerationRequest, request: Request,
                      service: Service = Depends(get_service)) -> ImagesResponse:
    loras, scale = _check(body, service)
    t2i = await service.pipeline(request, T2I, body.model)

    def run() -> Any:
        with t2i.using_lora(loras, scale):  # the tabs draw on the same pipeline: one call at a time
            return t2i(body.prompt, **_settings(body))

    try:
        result = await service.run(request, T2I, run)
    except ApiError as err:
        raise _renamed(err) from None
    return _answer(result, body)


EDIT_FORM = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["image", "prompt"],
    "properties": {"image": {"type": "string", "format": "binary"}, "prompt": {"type": "string"},
                   **{name: {"type": "string"} for name in ImageEditRequest.model_fields if name not in
                      ("image", "prompt")}}}}}}}


def _image_of(t2i: Any, service: Service) -> Any:
    """Image-to-image on `t2i`'s loaded components (one per loaded text-to-image pipeline)."""
    from pipelines.image_generation import ImageToImagePipeline

    pairs = service.extras.setdefault("image_to_image_of", weakref.WeakKeyDictionary())
    if t2i not in pairs:
        pairs[t2i] = ImageToImagePipeline.from_pipe(t2i)
    return pairs[t2i]


def read_upload_image(data: bytes, field: str) -> Any:
    """An uploaded picture as an RGB PIL image (`pipelines.images.load_image` converts it); empty, corrupt or not a
    picture: `InputError` naming `field` (never the server's temporary path)."""
    from PIL import Image

    from pipelines.errors import InputError

    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            picture = image.copy()
    except Exception as err:  # noqa: BLE001 - PIL raises many kinds (UnidentifiedImageError, OSError, bombs)
        raise InputError(field, f"an uploaded file of {len(data)} bytes", "a picture file (PNG, JPEG, WebP, ...)",
                         f"It cannot be read as an image ({type(err).__name__}).") from None
    return load_image(picture, field)


def _form_value(name: str, value: str) -> Any:
    """A form field's text as the JSON value the request model checks (numbers for the numeric fields)."""
    field = ImageEditRequest.model_fields.get(name)
    annotation = str(field.annotation) if field is not None else ""
    if "int" in annotation or "float" in annotation:
        try:
            return int(value) if value.strip().lstrip("-").isdigit() else float(value)
        except ValueError:
            return value  # the model's check names it
    return value


@router.post("/images/edits", response_model=ImagesResponse, openapi_extra=EDIT_FORM,
             summary="An image redrawn from a prompt (OpenAI: images.edit)")
async def edits(request: Request, service: Service = Depends(get_service)) -> ImagesResponse:
    form = await read_multipart(request, "image", "image=@picture.png, prompt=...")
    try:
        if "mask" in form:
            raise unsupported("mask", "inpainting is not available; send the image alone")
        images = form.getlist("image") + form.getlist("image[]")
        if len(images) != 1 or isinstance(images[0], str):
            raise field_error("image", "`image` must be exactly one uploaded picture (PNG, JPEG, WebP).")
        values: dict[str, Any] = {}
        for key, value in form.multi_items():
            if key in ("image", "image[]"):
                continue
            if not isinstance(value, str):
                raise field_error(key, f"`{key}` must be a form value, not a file.")
            if key == "lora" and "lora" in values:
                values["lora"] = [*([values["lora"]] if isinstance(values["lora"], str) else values["lora"]), value]
                continue
            values[key] = _form_value(key, value)
        try:
            body = ImageEditRequest.model_validate(values)
        except ValidationError as err:
            param, message, code = validation_message(err.errors()[0], ImageEditRequest)
            raise field_error(param, message, code) from None
        picture_bytes = await images[0].read()
    finally:
        await form.close()
    loras, scale = _check(body, service)
    picture = await service.offload(read_upload_image, picture_bytes, "image")
    t2i = await service.pipeline(request, T2I, body.model)
    request.state.task = I2I

    def run() -> Any:
        i2i = _image_of(t2i, service)
        settings = _settings(body) | ({"strength": body.strength} if body.strength is not None else {})
        with i2i.using_lora(loras, scale):  # its lock is the text-to-image pipeline's, as its weights are
            return i2i(body.prompt, image=picture, **settings)

    try:
        result = await service.run(request, T2I, run)  # the text-to-image slot: the weights are shared
    except ApiError as err:
        raise _renamed(err) from None
    request.state.task = I2I
    return _answer(result, body)
