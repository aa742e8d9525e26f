"""Stable Diffusion: text-to-image and image-to-image over diffusers' AutoPipelines.

>>> from pipelines import load
>>> t2i = load("text-to-image")                                  # stabilityai/sd-turbo: 1 step, guidance 0
>>> result = t2i("a watercolor fox in a snowy forest", seed=42)
>>> result.images[0].save("fox.png"); result.seed
42
>>> from pipelines.image_generation import ImageToImagePipeline
>>> i2i = ImageToImagePipeline.from_pipe(t2i)                     # shares the loaded weights, no second copy
>>> i2i("the same fox, oil painting", image="fox.png", strength=0.5, seed=42).images[0].size
(512, 512)
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
from collections.abc import Iterator
from typing import Any, ClassVar

import torch

from pipelines import validate
from pipelines.base import (
    Pipeline,
    ProgressCallback,
    Result,
    place_diffusers_pipeline,
    resolve_device,
    resolve_dtype,
    translating_load_errors,
)
from pipelines.errors import InputError
from pipelines.images import fit_within, load_image

logger = logging.getLogger(__name__)

# Short scheduler names -> diffusers classes; any class in `pipe.scheduler.compatibles` is accepted by name too.
SCHEDULERS = {
    "ddim": "DDIMScheduler",
    "euler": "EulerDiscreteScheduler",
    "euler-ancestral": "EulerAncestralDiscreteScheduler",
    "dpm++": "DPMSolverMultistepScheduler",
    "unipc": "UniPCMultistepScheduler",
    "pndm": "PNDMScheduler",
    "lms": "LMSDiscreteScheduler",
    "heun": "HeunDiscreteScheduler",
    "lcm": "LCMScheduler",
}
MAX_IMAGES = 8
MAX_STEPS = 1000  # the schedulers' training timesteps: more steps than that repeat timesteps
MAX_GUIDANCE = 50.0  # far above any useful value (7.5 is typical); 1e30 turns the image black
MAX_PROMPT_CHARS = 10_000  # CLIP reads 77 tokens; this only bounds tokenisation time
LOW_MEMORY_BYTES = 3 * 2**30  # below this much free memory after loading, attention slicing and VAE tiling switch on

# `pipelines.base.ProgressCallback` here:
# ``progress(step, total, info)``: ``step`` counts finished denoising steps from 1, ``total`` is the number of steps
# this call runs, ``info`` is ``{"timestep": int}``. Return ``False`` to stop early (the result says
# ``interrupted``); any other return value is ignored.


@dataclasses.dataclass
class ImageResult(Result):
    """Generated images (PIL) and the settings that reproduce them: the same seed gives the same images."""

    images: list[Any]
    seed: int
    num_inference_steps: int
    guidance_scale: float
    width: int
    height: int
    strength: float | None = None
    nsfw_content_detected: list[bool] | None = None  # None when the checkpoint has no safety checker
    interrupted: bool = False


class _StableDiffusion(Pipeline):
    """Shared loading, validation and calling of the two Stable Diffusion tasks."""

    auto_class: ClassVar[str] = ""

    def __init__(self, pipe: Any, model_id: str, device: Any, dtype: Any, turbo: bool, loras: Any = None,
                 lock: threading.Lock | None = None):
        from pipelines.adapters import SDLoras

        super().__init__(model_id, device, dtype)
        self.pipe, self.turbo = pipe, turbo
        self.loras = loras if loras is not None else SDLoras()  # shared with from_pipe: the UNet is shared too
        #: Held by callers in several threads from `set_lora` to the end of the call (`using_lora`): the
        #: components serve one call at a time (the scheduler keeps the step it is at; the active LoRAs are the
        #: UNet's state). Shared with from_pipe, as the components are.
        self.lock = lock if lock is not None else threading.Lock()

    # ------------------------------------------------------------------------------------------------ loading

    @classmethod
    def from_pretrained(cls, model: str, *, device: Any = None, dtype: Any = None, revision: str | None = None,
                        scheduler: str | None = None, safety_checker: bool = True,
                        attention_slicing: bool | None = None, vae_tiling: bool | None = None,
                        cpu_offload: bool | None = None, turbo: bool | None = None, variant: str | None = None,
                        progress_bar: bool = False, lora: str | list[str] | None = None,
                        lora_scale: float | list[float] = 1.0, **options: Any) -> _StableDiffusion:
        """Load a diffusers Stable Diffusion checkpoint (Hub id or local folder).

        Args:
            model (`str`): ``"stabilityai/sd-turbo"``, ``"stable-diffusion-v1-5/stable-diffusion-v1-5"``, a folder.
            device (`str`, *optional*): default CUDA when present, else CPU.
            dtype (`str` or `torch.dtype`, *optional*): default float16 on GPU, float32 on CPU.
            revision (`str`, *optional*): a Hub revision (the registry pins the defaults').
            scheduler (`str`, *optional*): a name from `SCHEDULERS` or a compatible diffusers class name;
                default: the checkpoint's own.
            safety_checker (`bool`, *optional*, defaults to `True`): keep the checkpoint's NSFW checker (if it has
                one). ``False`` removes it, and says so in the log.
            attention_slicing, vae_tiling (`bool`, *optional*): memory savers; ``None`` switches them on when
                less than 3 GiB stays free after loading.
            cpu_offload (`bool`, *optional*): model CPU offload (CUDA only); ``None`` switches it on when the
                weights do not fit the free GPU memory with 3 GiB to spare.
            turbo (`bool`, *optional*): an adversarially distilled model (1-4 steps, guidance 0); default: the id
                contains "turbo".
            variant (`str`, *optional*): a weights variant, e.g. ``"fp16"``. Default: ``"fp16"`` on a GPU in
                float16, where the checkpoint has one (stabilityai/sd-turbo does: half the download), else the
                full-precision weights; on CPU the full-precision weights.
            progress_bar (`bool`, *optional*, defaults to `False`): show diffusers' tqdm bar.
            lora (`str` or `list[str]`, *optional*): LoRA folders (``python -m finetune.sd_lora``) or Hub ids to
                apply; several combine. A LoRA trained for another base model is refused (`ModelLoadError`).
            lora_scale (`float` or `list[float]`, defaults to 1.0): from -4 to 4, one for all or one per LoRA.
            options: passed on to diffusers' ``from_pretrained``.
        """
        import diffusers

        if variant is not None:
            validate.text("variant", variant)
        revision = validate.optional_text("revision", revision, allow_empty=False)
        safety_checker = validate.boolean("safety_checker", safety_checker)
        progress_bar = validate.boolean("progress_bar", progress_bar)
        attention_slicing, vae_tiling, cpu_offload, turbo = (
            None if value is None else validate.boolean(name, value) for name, value in (
                ("attention_slicing", attention_slicing), ("vae_tiling", vae_tiling), ("cpu_offload", cpu_offload),
                ("turbo", turbo)))
        from pipelines.adapters import sd_lora_list

        loras = sd_lora_list(lora, lora_scale)  # bad arguments fail before the download

        device = resolve_device(device)
        dtype = torch.float16 if dtype is None and device.type == "cuda" else resolve_dtype(dtype, device)
        if cpu_offload and device.type != "cuda":
            raise InputError("cpu_offload", cpu_offload, "False or None on a CPU device",
                             "Model CPU offload moves weights to a GPU only while they run.")
        kwargs: dict[str, Any] = {"dtype": dtype, "use_safetensors": True, **options}
        if revision is not None:
            kwargs["revision"] = revision
        if not safety_checker:
            kwargs.update(safety_checker=None, requires_safety_checker=False)
        with translating_load_errors(model, cls.task):
            pipe = load_diffusers(getattr(diffusers, cls.auto_class), model, kwargs, variant,
                                  prefer_fp16=variant is None and device.type == "cuda" and dtype == torch.float16)
        if not safety_checker:
            logger.warning("Safety checker disabled by the caller for %s: NSFW images will not be blacked out.", model)
        elif getattr(pipe, "safety_checker", None) is None:
            logger.info("%s has no safety checker: images are returned unfiltered.", model)
        turbo = "turbo" in model.lower() if turbo is None else turbo
        pipeline = cls(pipe, model, device, dtype, turbo)
        if scheduler is not None:
            pipeline.set_scheduler(scheduler)
        pipeline._place(attention_slicing, vae_tiling, cpu_offload)
        pipe.set_progress_bar_config(disable=not progress_bar)
        if loras:
            pipeline.loras.activate(pipe, model, loras)
            pipeline._note_lora_resolutions()
        return pipeline

    @classmethod
    def from_pipe(cls, other: _StableDiffusion) -> _StableDiffusion:
        """The other task on the same loaded components (diffusers' ``from_pipe``): no second copy of the weights.

        >>> i2i = ImageToImagePipeline.from_pipe(load("text-to-image"))
        """
        import diffusers

        if not isinstance(other, _StableDiffusion):
            raise InputError("other", other, "a TextToImagePipeline or ImageToImagePipeline")
        pipe = getattr(diffusers, cls.auto_class).from_pipe(other.pipe)
        pipe.set_progress_bar_config(**getattr(other.pipe, "_progress_bar_config", {}))
        return cls(pipe, other.model_id, other.device, other.dtype, other.turbo, other.loras, other.lock)

    def set_lora(self, lora: str | list[str] | None, lora_scale: float | list[float] = 1.0) -> None:
        """Apply these LoRAs at these scales from the next call on (each loaded once); None turns LoRA off.

        >>> t2i.set_lora(["runs/sks-mug", "runs/watercolor"], [1.0, 0.6])
        """
        from pipelines.adapters import sd_lora_list

        self.loras.activate(self.pipe, self.model_id, sd_lora_list(lora, lora_scale))
        self._note_lora_resolutions()

    @contextlib.contextmanager
    def using_lora(self, lora: str | list[str] | None, lora_scale: float | list[float] = 1.0) -> Iterator[None]:
        """Hold `lock` with these LoRAs set (`set_lora`): a call of its own where threads share the pipeline.

        >>> with t2i.using_lora("runs/sks-mug"):
        ...     result = t2i("a photo of sks mug")
        """
        with self.lock:
            self.set_lora(lora, lora_scale)
            yield

    @property
    def lora_resolutions(self) -> dict[str, int | None]:
        """The side each active LoRA was trained at (``mmhub_run.json`` of a `finetune.sd_lora` folder; None when
        unknown: a Hub id or a LoRA trained elsewhere)."""
        return {source: lora_training_resolution(source) for source, _ in self.loras.active}

    def _note_lora_resolutions(self) -> None:
        """Say once per activation when a LoRA was trained at another side than the images default to.

        The default size stays the base model's native one, as diffusers' DreamBooth LoRA script
        (``examples/dreambooth/train_dreambooth_lora.py``, ``log_validation``: ``pipeline(**pipeline_args,
        generator=generator)``, no height / width) draws its validation images whatever ``--resolution`` it trained
        at, and as ``load_lora_weights`` users get; `finetune.sd_lora`'s preview samples are drawn the same way, so
        ``load("text-to-image", lora=DIR)`` with the run's seed reproduces them.
        """
        for source, trained in self.lora_resolutions.items():
            if trained is not None and trained != self.native_size:
                logger.warning("LoRA %s was trained at %d px; %s draws %d px images by default (as diffusers' "
                               "DreamBooth LoRA script does). Pass height=%d, width=%d for the training size.",
                               source, trained, self.model_id, self.native_size, trained, trained)

    def unload_lora(self) -> None:
        """Remove every loaded LoRA: the pipeline generates exactly as the base model again."""
        self.loras.unload(self.pipe)

    def set_scheduler(self, name: str) -> None:
        """Swap the scheduler (its config kept): a `SCHEDULERS` name or a compatible diffusers class name."""
        compatible = {c.__name__: c for c in self.pipe.scheduler.compatibles}
        class_name = SCHEDULERS.get(str(name).lower(), name)
        if class_name not in compatible:
            allowed = sorted(k for k, v in SCHEDULERS.items() if v in compatible) + sorted(compatible)
            raise InputError("scheduler", name, f"one of {allowed}")
        extra = {"timestep_spacing": "trailing"} if self.turbo else {}  # what distilled few-step models need
        self.pipe.scheduler = compatible[class_name].from_config(self.pipe.scheduler.config, **extra)
        logger.info("Scheduler: %s%s", class_name, " (trailing timesteps, turbo)" if self.turbo else "")

    def _place(self, attention_slicing: bool | None, vae_tiling: bool | None, cpu_offload: bool | None) -> None:
        _, free = place_diffusers_pipeline(self.pipe, self.device, cpu_offload, LOW_MEMORY_BYTES)
        low = free < LOW_MEMORY_BYTES
        if attention_slicing or (attention_slicing is None and low):
            logger.info("Attention slicing on (%.1f GiB free)", free / 2**30)
            self.pipe.enable_attention_slicing()
        if vae_tiling or (vae_tiling is None and low):
            logger.info("VAE tiling on (%.1f GiB free)", free / 2**30)
            self.pipe.vae.enable_tiling()

    # ------------------------------------------------------------------------------------------------ validation

    @property
    def native_size(self) -> int:
        """The side the checkpoint was trained at (512 for SD 1.5 and sd-turbo)."""
        return int(self.pipe.unet.config.sample_size) * int(self.pipe.vae_scale_factor)

    @property
    def size_limits(self) -> tuple[int, int]:
        """`(smallest, largest)` height/width accepted: 8 latent pixels per UNet level, and twice the native size."""
        levels = len(self.pipe.unet.config.block_out_channels) - 1
        smallest = max(8, self.pipe.vae_scale_factor * 2**levels)
        return -(-smallest // 8) * 8, 2 * self.native_size

    def _defaults(self, num_inference_steps: int | None, guidance_scale: float | None) -> tuple[int, float]:
        steps = num_inference_steps if num_inference_steps is not None else (1 if self.turbo else 25)
        guidance = guidance_scale if guidance_scale is not None else (0.0 if self.turbo else 7.5)
        return steps, guidance

    def _check_common(self, prompt: Any, negative_prompt: Any, steps: Any, guidance: Any, num_images: Any,
                      seed: Any, progress: Any) -> tuple[int, float, int, int]:
        """Validated ``(steps, guidance, num_images, seed)`` (a random seed when `seed` is None)."""
        validate.text("prompt", prompt, allow_empty=True, max_chars=MAX_PROMPT_CHARS)
        if negative_prompt is not None:
            validate.text("negative_prompt", negative_prompt, allow_empty=True, max_chars=MAX_PROMPT_CHARS)
        steps = validate.integer("num_inference_steps", steps, low=1, high=MAX_STEPS)
        guidance = validate.number("guidance_scale", guidance, low=0.0, high=MAX_GUIDANCE,
                                   hint="0 turns classifier-free guidance off.")
        num_images = validate.integer("num_images", num_images, low=1, high=MAX_IMAGES)
        seed = validate.seed(seed)
        validate.callback("progress", progress, "progress(step, total, info)")
        if self.turbo and (guidance > 0 or steps > 4):
            logger.warning("%s is a turbo model: use 1-4 steps and guidance_scale=0 (got %s steps, guidance %s); "
                           "other settings give noise.", self.model_id, steps, guidance)
        if negative_prompt and guidance <= 1:
            logger.warning("negative_prompt has no effect with guidance_scale <= 1 (got %s).", guidance)
        return steps, guidance, num_images, seed

    def _check_size(self, name: str, value: Any) -> int:
        smallest, largest = self.size_limits
        allowed = f"a multiple of 8 from {smallest} to {largest} for this model"
        hint = f"It was trained at {self.native_size} px."
        try:
            value = validate.integer(name, value, low=smallest, high=largest)
        except InputError:
            raise InputError(name, value, allowed, hint) from None
        if value % 8:
            raise InputError(name, value, allowed, hint)
        return value

    # ------------------------------------------------------------------------------------------------ forward

    def _run(self, seed: int, progress: ProgressCallback | None, **call: Any) -> tuple[Any, bool]:
        generator = torch.Generator("cpu").manual_seed(seed)  # CPU noise: the same seed gives the same image anywhere
        stopped = []

        def on_step_end(pipe: Any, step: int, timestep: Any, callback_kwargs: dict[str, Any]) -> dict[str, Any]:
            if progress(step + 1, pipe.num_timesteps, {"timestep": int(timestep)}) is False:
                pipe._interrupt = True
                stopped.append(step + 1)
            return callback_kwargs

        with torch.inference_mode():
            output = self.pipe(generator=generator, output_type="pil",
                               callback_on_step_end=on_step_end if progress is not None else None, **call)
        if stopped:
            logger.info("Stopped by the progress callback after %d steps.", stopped[0])
        return output, bool(stopped)


def lora_training_resolution(source: str) -> int | None:
    """The ``resolution`` a local `finetune.sd_lora` LoRA folder (or its weights file) records in ``mmhub_run.json``;
    None for anything else."""
    import json
    from pathlib import Path

    try:
        path = Path(source).expanduser()
        folder = path.parent if path.is_file() else path
        info = json.loads((folder / "mmhub_run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    value = info.get("resolution") if isinstance(info, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) and 8 <= value <= 8192 else None


class TextToImagePipeline(_StableDiffusion):
    """Text-to-image with Stable Diffusion (diffusers ``AutoPipelineForText2Image``).

    >>> from pipelines import load
    >>> t2i = load("text-to-image", model="stabilityai/sd-turbo")
    >>> t2i("a lighthouse at dawn, 35mm photo", seed=0).images[0].size
    (512, 512)
    """

    task = "text-to-image"
    auto_class = "AutoPipelineForText2Image"

    def __call__(self, prompt: str, negative_prompt: str | None = None, num_inference_steps: int | None = None,
                 guidance_scale: float | None = None, height: int | None = None, width: int | None = None,
                 num_images: int = 1, seed: int | None = None, progress: ProgressCallback | None = None,
                 ) -> ImageResult:
        """Generate `num_images` images for `prompt`.

        Args:
            prompt (`str`): what to draw (valid Unicode, at most 10,000 characters; CLIP reads the first 77 tokens).
            negative_prompt (`str`, *optional*): what to avoid (needs guidance_scale > 1).
            num_inference_steps (`int`, *optional*): 1 to 1000; default 1 for turbo models, else 25.
            guidance_scale (`float`, *optional*): 0 to 50; default 0.0 for turbo models, else 7.5.
            height, width (`int`, *optional*): multiples of 8 up to twice the native size; default native (512),
                with or without a LoRA (a LoRA trained at another ``--resolution`` is noted in the log).
            num_images (`int`, *optional*, defaults to 1): 1 to 8.
            seed (`int`, *optional*): 0 to 2**63 - 1; default a random one, reported in the result.
            progress (`ProgressCallback`, *optional*): ``progress(step, total, info)`` after each denoising step.
        """
        steps, guidance = self._defaults(num_inference_steps, guidance_scale)
        steps, guidance, num_images, seed = self._check_common(prompt, negative_prompt, steps, guidance, num_images,
                                                               seed, progress)
        height = self._check_size("height", self.native_size if height is None else height)
        width = self._check_size("width", self.native_size if width is None else width)
        output, interrupted = self._run(seed, progress, prompt=prompt, negative_prompt=negative_prompt,
                                        num_inference_steps=steps, guidance_scale=guidance, height=height,
                                        width=width, num_images_per_prompt=num_images)
        return ImageResult(list(output.images), seed, steps, guidance, width, height,
                           nsfw_content_detected=_flags(output), interrupted=interrupted)


class ImageToImagePipeline(_StableDiffusion):
    """Image-to-image with Stable Diffusion (diffusers ``AutoPipelineForImage2Image``).

    >>> from pipelines import load
    >>> i2i = load("image-to-image", model="stabilityai/sd-turbo")
    >>> i2i("a cat, watercolor", image="cat.jpg", num_inference_steps=2, strength=0.5, seed=0).images[0]
    <PIL.Image.Image image mode=RGB size=512x384>
    """

    task = "image-to-image"
    auto_class = "AutoPipelineForImage2Image"

    def __call__(self, prompt: str, image: Any = None, strength: float | None = None,
                 negative_prompt: str | None = None, num_inference_steps: int | None = None,
                 guidance_scale: float | None = None, height: int | None = None, width: int | None = None,
                 num_images: int = 1, seed: int | None = None, progress: ProgressCallback | None = None,
                 ) -> ImageResult:
        """Redraw `image` following `prompt`; `strength` says how far from the image it may go.

        Args:
            prompt (`str`): what to draw.
            image (path, `PIL.Image.Image` or array): the starting image, at least as large as the smallest size the
                model generates (64 px on a side for Stable Diffusion).
            strength (`float`, *optional*): in (0, 1]; default 0.5 for turbo models, else 0.75. Only
                ``int(num_inference_steps * strength)`` steps run, so that product must be at least 1.
            num_inference_steps (`int`, *optional*): 1 to 1000; default 2 for turbo models, else 25.
            height, width (`int`, *optional*): resize the image to this (multiples of 8; give one and the other
                keeps the aspect ratio); default the image's size scaled down to fit the native size, rounded down
                to multiples of 8.
            negative_prompt, guidance_scale, num_images, seed, progress: as for `TextToImagePipeline`.
        """
        steps, guidance = self._defaults(num_inference_steps if num_inference_steps is not None
                                         else (2 if self.turbo else None), guidance_scale)
        steps, guidance, num_images, seed = self._check_common(prompt, negative_prompt, steps, guidance, num_images,
                                                               seed, progress)
        strength = validate.number("strength", (0.5 if self.turbo else 0.75) if strength is None else strength,
                                   low=0.0, high=1.0, low_open=True)
        if int(steps * strength) < 1:
            raise InputError("strength", strength, f"at least {1 / steps:g} with num_inference_steps={steps}",
                             "Only int(num_inference_steps * strength) steps run; raise either.")
        if image is None:
            raise InputError("image", None, "an image to start from: a path, a PIL.Image or an array")
        picture = load_image(image, "image")
        validate.image_size("image", picture.size, min_side=self.size_limits[0])
        if height is None and width is None:
            width, height = fit_within(picture.size, self.native_size, multiple=8)
            if min(width, height) < self.size_limits[0]:  # a long, thin image scaled to fit the native size
                raise InputError("image", f"a {picture.width}x{picture.height} image",
                                 f"an image whose short side stays at least {self.size_limits[0]} px once its long "
                                 f"side is scaled to {self.native_size}", "Crop it, or pass height= and width=.")
        else:  # one side given: the other keeps the image's aspect ratio
            aspect = picture.width / picture.height
            height = self._check_size("height", max(8, round(width / aspect / 8) * 8) if height is None else height)
            width = self._check_size("width", max(8, round(height * aspect / 8) * 8) if width is None else width)
        if picture.size != (width, height):
            from PIL import Image

            picture = picture.resize((width, height), Image.Resampling.LANCZOS)
        output, interrupted = self._run(seed, progress, prompt=prompt, image=picture, strength=strength,
                                        negative_prompt=negative_prompt, num_inference_steps=steps,
                                        guidance_scale=guidance, num_images_per_prompt=num_images)
        return ImageResult(list(output.images), seed, steps, guidance, width, height, strength,
                           nsfw_content_detected=_flags(output), interrupted=interrupted)


def load_diffusers(pipeline_class: Any, model: str, kwargs: dict[str, Any], variant: str | None,
                   prefer_fp16: bool) -> Any:
    """``pipeline_class.from_pretrained(model, **kwargs)`` with the weights variant to download.

    An explicit `variant` is passed as it is. Otherwise, with `prefer_fp16` (a GPU in float16), the ``"fp16"``
    variant is tried first: half the download where the repo has one (stabilityai/sd-turbo's model card loads it
    with ``variant="fp16"``). diffusers 0.42 raises ``ValueError("You are trying to load model files of the
    `variant=fp16`, but no such modeling files are available.")`` from its file list, before downloading any weight,
    when a repo or folder has none; the full-precision weights are then loaded (and cast to float16).
    """
    if variant is not None or not prefer_fp16:
        return pipeline_class.from_pretrained(model, **kwargs, **({"variant": variant} if variant else {}))
    try:
        return pipeline_class.from_pretrained(model, **kwargs, variant="fp16")
    except ValueError as err:
        if "variant=fp16" not in str(err):
            raise
        logger.info("%s has no fp16 weights variant: loading the full-precision weights in float16.", model)
        return pipeline_class.from_pretrained(model, **kwargs)


def _flags(output: Any) -> list[bool] | None:
    flags = getattr(output, "nsfw_content_detected", None)
    if flags is None:
        return None
    if any(flags):
        logger.warning("The safety checker blacked out %d of %d images.", sum(map(bool, flags)), len(flags))
    return [bool(f) for f in flags]


__all__ = ["ImageResult", "ImageToImagePipeline", "ProgressCallback", "SCHEDULERS", "TextToImagePipeline"]
