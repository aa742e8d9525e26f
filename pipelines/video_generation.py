"""Text-to-video (and image-to-video) with Wan 2.1 / 2.2 through diffusers' ``WanPipeline``.

>>> from pipelines import load
>>> video = load("text-to-video")                         # Wan-AI/Wan2.1-T2V-1.3B-Diffusers: 480p, 16 fps
>>> clip = video("a red fox trotting through snow, cinematic", num_frames=33, seed=0)
>>> clip.save("fox.mp4"); clip.frames.shape, clip.fps
((33, 480, 832, 3), 16)
>>> ti2v = load("text-to-video", model="Wan-AI/Wan2.2-TI2V-5B-Diffusers")     # 720p, 24 fps
>>> ti2v("the fox starts running", image="fox.png", num_frames=49, seed=0).save("run.mp4")

On a CPU this is impractically slow for the real models (hours per clip); it runs, nothing is refused. The tiny
models (``model="tiny"`` / ``"tiny-ti2v"``) run on a CPU in about a second.

Facts from diffusers 0.42.1 (``pipelines/wan/pipeline_wan.py``, ``pipeline_wan_i2v.py``) and the model cards:

- ``num_frames - 1`` must be divisible by the VAE's temporal factor (4): diffusers silently rounds other counts,
  mmhub refuses them with the nearest valid ones. Height and width must be multiples of the VAE's spatial factor
  times the transformer's patch size: 8 x 2 = 16 for Wan 2.1, 16 x 2 = 32 for the Wan 2.2 TI2V VAE (diffusers
  rounds them down with a warning; mmhub refuses).
- Defaults: 81 frames at 480 x 832 (``WanPipeline.__call__``), 50 steps, guidance 5.0; Wan 2.2 TI2V: 121 frames at
  704 x 1280 (Wan-Video/Wan2.2 README: "the 720P resolution of the Text-Image-to-Video task is 1280*704").
- Frame rate: 16 fps for Wan 2.1 (diffusers' examples: ``export_to_video(output, "output.mp4", fps=16)``), 24 fps for
  Wan 2.2 TI2V (README: "720P@24fps"). The TI2V checkpoint is the one diffusers loads with ``expand_timesteps``.
- Image-to-video with TI2V runs ``WanImageToVideoPipeline`` on the same components (``from_pipe``).
- The VAE is kept in float32 on a GPU ("Set the AutoencoderKLWan dtype to torch.float32 for better decoding
  quality", diffusers' Wan docs); the transformer and text encoder run in bfloat16 there.
- The MP4 is written by diffusers' ``export_to_video`` (imageio + imageio-ffmpeg, whose wheel bundles ffmpeg).

Generation defaults as Wan ships them (Wan-Video/Wan2.1 @ 9737cba, Wan-Video/Wan2.2 @ 42bf4cf):

- Negative prompt: when none is given, Wan's own ``sample_neg_prompt`` (``wan/configs/shared_config.py`` of both
  repos, used by ``generate.py`` whenever ``n_prompt == ""``), verbatim: `DEFAULT_NEGATIVE_PROMPT`. diffusers'
  ``WanPipeline`` uses none by default; its model cards pass the English translation by hand. An explicit ``""``
  turns it off.
- ``flow_shift`` of the UniPC flow-matching scheduler: Wan 2.1, 3.0 for 480P and 5.0 for 720P (Wan2.1 README,
  "Running with Diffusers": ``flow_shift = 5.0 # 5.0 for 720P, 3.0 for 480P``; diffusers' converter writes 3.0 into
  the 480P checkpoints); a size counts as 720P when its area is nearer (on a log scale) 720 x 1280 than 480 x 832.
  Wan 2.2 TI2V: 5.0 (``wan/configs/wan_ti2v_5B.py``: ``sample_shift = 5.0``). ``flow_shift=`` overrides it (the
  Wan2.1 README suggests 8 to 12 for T2V-1.3B with its own sampler).
- Image-to-video keeps the first image's aspect ratio as Wan 2.2's ``WanTI2V.i2v`` does: the output size is
  ``best_output_size`` (``wan/utils/utils.py``: the largest size within the model's area, 704 x 1280 for TI2V, in
  multiples of 32 whose ratio is nearest the image's), the image is scaled (Lanczos) to cover it and centre-cropped.
  Explicit ``height`` / ``width`` are covered and cropped the same way: never stretched.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
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
from pipelines.images import load_image

logger = logging.getLogger(__name__)

MAX_FRAMES = 241  # 10 s at 24 fps; a finite bound (the models were trained on 81 / 121 frames)
MAX_SIDE = 1920
MAX_STEPS = 500
LOW_MEMORY_BYTES = 4 * 2**30  # below this much free memory after loading, VAE tiling and slicing switch on
#: (height, width, num_frames, fps): Wan 2.1 (diffusers' call defaults, 16 fps), Wan 2.2 TI2V (README: 1280*704,
#: 121 frames = 5 s at 24 fps), and the tiny models (diffusers' dummy inputs: 9 frames, 16 px / 32 px).
DEFAULTS = {"wan2.1": (480, 832, 81, 16), "wan2.2-ti2v": (704, 1280, 121, 24),
            "tiny": (16, 16, 9, 16), "tiny-ti2v": (32, 32, 9, 24)}
VIDEO_SUFFIXES = (".mp4",)
#: Wan's ``sample_neg_prompt`` (wan/configs/shared_config.py in Wan-Video/Wan2.1 and Wan2.2), verbatim. English, as
#: the Wan2.1 README's diffusers example translates it: "Bright tones, overexposed, static, blurred details,
#: subtitles, style, works, paintings, images, static, overall gray, worst quality, low quality, JPEG compression
#: residue, ugly, incomplete, extra fingers, poorly drawn hands, poorly drawn faces, deformed, disfigured, misshapen
#: limbs, fused fingers, still picture, messy background, three legs, many people in the background, walking
#: backwards".
DEFAULT_NEGATIVE_PROMPT = ("色调艳丽，过曝，静态，细节模糊不清，字幕，风格，作品，画作，画面，静止，整体"
                           "发灰，最差质量，低质量，JPEG压缩残留，丑陋的，残缺的，多余的手指，画得不"
                           "好的手部，画得不好的脸部，畸形的，毁容的，形态畸形的肢体，手指融合，静止不动"
                           "的画面，杂乱的背景，三条腿，背景人很多，倒着走")
#: flow_shift per family: Wan 2.1 (480P, 720P) from the Wan2.1 README; Wan 2.2 TI2V from wan_ti2v_5B.py (720P only).
FLOW_SHIFTS = {"wan2.1": (3.0, 5.0), "wan2.2-ti2v": (5.0, 5.0)}
AREA_480P, AREA_720P = 480 * 832, 720 * 1280
MAX_FLOW_SHIFT = 100.0


@dataclasses.dataclass
class VideoResult(Result):
    """A generated video: uint8 frames ``(num_frames, height, width, 3)``, its frame rate and the settings that
    reproduce it. ``result.save("clip.mp4")`` writes an H.264 MP4."""

    frames: np.ndarray
    fps: int
    seed: int
    num_inference_steps: int
    guidance_scale: float
    width: int
    height: int
    image: bool = False
    interrupted: bool = False
    licence: str = ""
    model: str = ""
    negative_prompt: str | None = None
    flow_shift: float | None = None

    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[0])

    @property
    def seconds(self) -> float:
        return self.num_frames / self.fps

    def save(self, path: str | os.PathLike, fps: int | None = None) -> Path:
        """Write the video to `path` (``.mp4``) at `fps` (default the model's) and return the path."""
        from PIL import Image

        path = validate.output_file("path", path, VIDEO_SUFFIXES)  # not a folder: it would write nothing
        fps = validate.integer("fps", self.fps if fps is None else fps, low=1, high=240)
        try:
            from diffusers.utils import export_to_video
        except ImportError as err:  # pragma: no cover - diffusers is a core requirement
            raise ImportError("saving a video needs diffusers: pip install diffusers imageio imageio-ffmpeg") from err
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # PIL frames: export_to_video scales NumPy frames by 255 (it expects floats in [0, 1]).
            export_to_video([Image.fromarray(frame) for frame in self.frames], str(path), fps=fps)
        except OSError as err:  # a read-only folder, a full disk
            raise InputError("path", str(path), "a file that can be written", f"({err})") from None
        if not path.is_file() or path.stat().st_size == 0:
            raise InputError("path", str(path), "a file that can be written", "Nothing was written there.")
        logger.info("wrote %s (%d frames at %d fps)", path, self.num_frames, fps)
        return path


class TextToVideoPipeline(Pipeline):
    """Text-to-video with Wan (diffusers ``WanPipeline``); image-to-video too with Wan 2.2 TI2V.

    >>> video = TextToVideoPipeline.from_pretrained("Wan-AI/Wan2.1-T2V-1.3B-Diffusers", cpu_offload=True)
    >>> video("waves on a beach at sunset", num_frames=49, seed=1).save("waves.mp4")
    """

    task = "text-to-video"

    def __init__(self, pipe: Any, model_id: str, device: Any, dtype: Any):
        super().__init__(model_id, device, dtype)
        self.pipe, self._image_pipe, self._offloaded = pipe, None, None
        self.cpu_offload = self.vae_tiling = self.vae_slicing = False

    # ------------------------------------------------------------------------------------------------ loading

    @classmethod
    def from_pretrained(cls, model: str, *, device: Any = None, dtype: Any = None, revision: str | None = None,
                        cpu_offload: bool | None = None, vae_tiling: bool | None = None,
                        vae_slicing: bool | None = None, variant: str | None = None, progress_bar: bool = False,
                        **options: Any) -> TextToVideoPipeline:
        """Load a Wan checkpoint in diffusers format (Hub id or local folder).

        Args:
            model (`str`): ``"Wan-AI/Wan2.1-T2V-1.3B-Diffusers"``, ``"Wan-AI/Wan2.2-TI2V-5B-Diffusers"``, a folder.
            device (`str`, *optional*): default CUDA when present, else CPU.
            dtype (`str` or `torch.dtype`, *optional*): default bfloat16 on GPU (float16 where bf16 is missing),
                float32 on CPU. The VAE stays in float32 (diffusers' advice for Wan).
            revision (`str`, *optional*): a Hub revision.
            cpu_offload (`bool`, *optional*): model CPU offload (CUDA only): each component moves to the GPU only
                while it runs. ``None`` switches it on when the weights do not fit the free GPU memory with 4 GiB
                to spare.
            vae_tiling, vae_slicing (`bool`, *optional*): decode the video in tiles / one video at a time;
                ``None`` switches both on when less than 4 GiB stays free after loading.
            variant (`str`, *optional*): a weights variant.
            progress_bar (`bool`, *optional*, defaults to `False`): show diffusers' tqdm bar.
            options: passed on to diffusers' ``from_pretrained``.
        """
        from diffusers import AutoencoderKLWan, WanPipeline

        device = resolve_device(device)
        dtype = resolve_dtype(dtype, device)
        for name, value in (("cpu_offload", cpu_offload), ("vae_tiling", vae_tiling), ("vae_slicing", vae_slicing)):
            if value is not None:
                validate.boolean(name, value)
        if cpu_offload and device.type != "cuda":
            raise InputError("cpu_offload", cpu_offload, "False or None on a CPU device",
                             "Model CPU offload moves weights to a GPU only while they run.")
        kwargs: dict[str, Any] = {"use_safetensors": True, **options}
        if revision is not None:
            kwargs["revision"] = revision
        if variant is not None:
            kwargs["variant"] = variant
        with translating_load_errors(model, cls.task):
            if dtype != torch.float32:
                kwargs["vae"] = AutoencoderKLWan.from_pretrained(model, subfolder="vae", dtype=torch.float32,
                                                                 **{k: v for k, v in kwargs.items() if k != "vae"})
            pipe = WanPipeline.from_pretrained(model, dtype=dtype, **kwargs)
        pipeline = cls(pipe, model, device, dtype)
        pipeline._place(cpu_offload, vae_tiling, vae_slicing)
        pipe.set_progress_bar_config(disable=not progress_bar)
        if device.type == "cpu" and not pipeline.is_tiny:
            logger.warning("Running %s on a CPU: expect minutes per denoising step at the default size.", model)
        return pipeline

    def _place(self, cpu_offload: bool | None, vae_tiling: bool | None, vae_slicing: bool | None) -> None:
        """Device placement (`place_diffusers_pipeline`) and the VAE's memory switches."""
        self.cpu_offload, free = place_diffusers_pipeline(self.pipe, self.device, cpu_offload, LOW_MEMORY_BYTES)
        if self.cpu_offload:
            self._offloaded = self.pipe
        low = free < LOW_MEMORY_BYTES
        self.vae_tiling = bool(vae_tiling or (vae_tiling is None and low))
        self.vae_slicing = bool(vae_slicing or (vae_slicing is None and low))
        if self.vae_tiling:
            logger.info("VAE tiling on (%.1f GiB free)", free / 2**30)
            self.pipe.vae.enable_tiling()
        if self.vae_slicing:
            logger.info("VAE slicing on (%.1f GiB free)", free / 2**30)
            self.pipe.vae.enable_slicing()

    # ------------------------------------------------------------------------------------------------ geometry

    @property
    def family(self) -> str:
        """``wan2.2-ti2v`` (expand_timesteps, image-to-video capable) or ``wan2.1``; ``tiny`` / ``tiny-ti2v``."""
        ti2v = bool(self.pipe.config.get("expand_timesteps", False))
        if self.is_tiny:
            return "tiny-ti2v" if ti2v else "tiny"
        return "wan2.2-ti2v" if ti2v else "wan2.1"

    @property
    def supports_image(self) -> bool:
        return self.family in ("wan2.2-ti2v", "tiny-ti2v")

    @property
    def size_multiple(self) -> int:
        """Height and width must be multiples of this: VAE spatial factor x transformer patch size."""
        return int(self.pipe.vae_scale_factor_spatial) * int(self.pipe.transformer.config.patch_size[1])

    @property
    def frame_multiple(self) -> int:
        """``num_frames - 1`` must be a multiple of this: the VAE's temporal factor (4)."""
        return int(self.pipe.vae_scale_factor_temporal)

    @property
    def defaults(self) -> tuple[int, int, int, int]:
        """``(height, width, num_frames, fps)`` of this model."""
        return DEFAULTS[self.family]

    @property
    def fps(self) -> int:
        return self.defaults[3]

    # ------------------------------------------------------------------------------------------------ call

    def __call__(self, prompt: str, negative_prompt: str | None = None, num_frames: int | None = None,
                 height: int | None = None, width: int | None = None, num_inference_steps: int | None = None,
                 guidance_scale: float | None = None, seed: int | None = None, image: Any = None,
                 progress: ProgressCallback | None = None, steps: int | None = None,
                 flow_shift: float | None = None) -> VideoResult:
        """Generate a video for `prompt` (starting from `image` with Wan 2.2 TI2V).

        Args:
            prompt (`str`): what happens in the video.
            negative_prompt (`str`, *optional*): what to avoid (needs guidance_scale > 1); default Wan's own
                (`DEFAULT_NEGATIVE_PROMPT`), ``""`` for none.
            num_frames (`int`, *optional*): 4k + 1 frames (1, 5, 9, ..., 241); default 81 (Wan 2.1) / 121 (TI2V).
            height, width (`int`, *optional*): multiples of 16 (Wan 2.1) / 32 (TI2V) up to 1920; default 480 x 832
                (Wan 2.1) / 704 x 1280 (TI2V); with `image`, the size of the model's area with the image's aspect
                ratio (Wan's ``best_output_size``).
            num_inference_steps (`int`, *optional*): 1 to 500, default 50. ``steps`` is accepted as a short alias.
            guidance_scale (`float`, *optional*): 0 to 30, default 5.0 (<= 1 turns classifier-free guidance off).
            seed (`int`, *optional*): default a random one, reported in the result. Noise is drawn on the CPU, so a
                seed gives the same video on any device (up to the device's arithmetic).
            image (*optional*): the first frame (path, PIL image or array), scaled to cover ``width x height``
                and centre-cropped, never stretched (Wan's ``generate.py``); Wan 2.2 TI2V only.
            progress (`ProgressCallback`, *optional*): ``progress(step, total, info)`` after each denoising step
                (``info["timestep"]``); returning ``False`` stops early: the result holds the partly denoised video
                and says ``interrupted``.
            flow_shift (`float`, *optional*): the scheduler's flow shift, in (0, 100]; default Wan's for this model
                and size (`flow_shift_for`).
        """
        prompt = validate.text("prompt", prompt)
        negative_prompt = validate.optional_text("negative_prompt", negative_prompt)
        given_negative = negative_prompt is not None
        negative_prompt = DEFAULT_NEGATIVE_PROMPT if negative_prompt is None else negative_prompt or None
        if steps is not None:
            if num_inference_steps is not None:
                raise InputError("steps", steps, "None when `num_inference_steps` is given (they are the same)")
            num_inference_steps = steps
        default_height, default_width, default_frames, fps = self.defaults
        num_frames = self._check_frames(default_frames if num_frames is None else num_frames)
        picture = None
        if image is not None:
            if not self.supports_image:
                raise InputError("image", "an image", f"None for {self.model_id}, a text-to-video model",
                                 "Image-to-video needs Wan 2.2 TI2V: Wan-AI/Wan2.2-TI2V-5B-Diffusers.")
            picture = load_image(image, "image")
            validate.image_size("image", picture.size, min_side=8)
            if height is None or width is None:
                width, height = self._image_size(picture, height, width)
        height = self._check_side("height", default_height if height is None else height)
        width = self._check_side("width", default_width if width is None else width)
        steps = validate.integer("num_inference_steps", 50 if num_inference_steps is None else num_inference_steps,
                                 low=1, high=MAX_STEPS)
        guidance = validate.number("guidance_scale", 5.0 if guidance_scale is None else guidance_scale, low=0,
                                   high=30, hint="<= 1 turns classifier-free guidance off.")
        seed = validate.seed(seed)
        shift = flow_shift_for(self.family, height, width) if flow_shift is None else validate.number(
            "flow_shift", flow_shift, low=0, high=MAX_FLOW_SHIFT, low_open=True,
            hint="Wan recommends 3.0 at 480P and 5.0 at 720P.")
        validate.callback("progress", progress, "progress(step, total, info)")
        call: dict[str, Any] = {}
        pipe = self.pipe
        if picture is not None:  # already the output size: diffusers' own resize leaves it as it is
            call["image"], pipe = cover_and_crop(picture, width, height), self.image_pipeline
        if given_negative and negative_prompt and guidance <= 1:
            logger.warning("negative_prompt has no effect with guidance_scale <= 1 (got %s).", guidance)
        self._set_flow_shift(pipe, shift)

        generator = torch.Generator("cpu").manual_seed(seed)  # CPU noise: the same seed, the same video anywhere
        stopped: list[int] = []

        def on_step_end(wan: Any, step: int, timestep: Any, callback_kwargs: dict[str, Any]) -> dict[str, Any]:
            if progress(step + 1, wan.num_timesteps, {"timestep": int(timestep)}) is False:
                wan._interrupt = True
                stopped.append(step + 1)
            return callback_kwargs

        self._offload_for(pipe)
        with torch.inference_mode():
            output = pipe(prompt=prompt, negative_prompt=negative_prompt, height=height, width=width,
                          num_frames=num_frames, num_inference_steps=steps, guidance_scale=guidance,
                          generator=generator, output_type="np",
                          callback_on_step_end=on_step_end if progress is not None else None, **call)
        if stopped:
            logger.info("Stopped by the progress callback after %d steps.", stopped[0])
        # diffusers' own float -> uint8 rule for PIL output (`numpy_to_pil`: round(x * 255))
        frames = (np.asarray(output.frames[0]) * 255).round().astype(np.uint8)
        info = self._info()
        return VideoResult(frames, fps, seed, steps, float(guidance), width, height, image=image is not None,
                           interrupted=bool(stopped), licence=info.licence if info else "", model=self.model_id,
                           negative_prompt=negative_prompt, flow_shift=shift)

    def _image_size(self, picture: Any, height: int | None, width: int | None) -> tuple[int, int]:
        """``(width, height)`` for a first frame when not both are given: Wan's `best_output_size` within the model's
        area (both missing), or the missing side from the image's aspect ratio (one given)."""
        multiple = self.size_multiple
        default_height, default_width = self.defaults[:2]
        if height is None and width is None:
            size = best_output_size(picture.width, picture.height, multiple, multiple, default_height * default_width)
            if size is None:
                raise InputError("image", f"a {picture.width}x{picture.height} image",
                                 f"an aspect ratio that fits {self.model_id}'s area in multiples of {multiple}",
                                 "Crop it, or pass height= and width= (the image is then cropped to them).")
            return size
        if height is None:
            width = self._check_side("width", width)
            return width, max(multiple, round(width * picture.height / picture.width / multiple) * multiple)
        height = self._check_side("height", height)
        return max(multiple, round(height * picture.width / picture.height / multiple) * multiple), height

    def _set_flow_shift(self, pipe: Any, shift: float) -> None:
        """Give `pipe` (and the pipeline sharing its scheduler) a scheduler with this flow shift (kept per value)."""
        scheduler = pipe.scheduler
        if "flow_shift" not in scheduler.config:
            logger.debug("%s has no flow_shift; left as it is.", type(scheduler).__name__)
            return
        if float(scheduler.config.flow_shift) == shift:
            return
        replacement = type(scheduler).from_config(scheduler.config, flow_shift=shift)
        for each in (self.pipe, self._image_pipe):
            if each is not None:
                each.scheduler = replacement

    @property
    def image_pipeline(self) -> Any:
        """``WanImageToVideoPipeline`` on the same components: no second copy of the weights.

        Built with its constructor, not ``from_pipe``: ``from_pipe`` casts every (shared) component to one dtype,
        which would undo the float32 VAE next to a bfloat16 transformer.
        """
        if self._image_pipe is None:
            from diffusers import WanImageToVideoPipeline

            p = self.pipe
            self._image_pipe = WanImageToVideoPipeline(
                tokenizer=p.tokenizer, text_encoder=p.text_encoder, vae=p.vae, scheduler=p.scheduler,
                transformer=p.transformer, transformer_2=p.transformer_2, image_encoder=None, image_processor=None,
                boundary_ratio=p.config.get("boundary_ratio"), expand_timesteps=p.config.get("expand_timesteps"))
            self._image_pipe.set_progress_bar_config(**getattr(p, "_progress_bar_config", {}))
        return self._image_pipe

    def _offload_for(self, pipe: Any) -> None:
        """With model CPU offload, the offload hooks belong to one pipeline at a time: move them to `pipe`."""
        if self.cpu_offload and self._offloaded is not pipe:
            pipe.enable_model_cpu_offload(device=self.device)
            self._offloaded = pipe

    def _check_frames(self, value: Any) -> int:
        step = self.frame_multiple
        allowed = f"an integer of the form {step}k + 1 from 1 to {MAX_FRAMES} (e.g. 17, 33, 49, 81)"
        frames = validate.integer("num_frames", value, low=1, high=MAX_FRAMES, hint=f"It must be {allowed}.")
        if (frames - 1) % step:
            below = (frames - 1) // step * step + 1
            raise InputError("num_frames", value, allowed, f"The nearest valid counts are {below} and {below + step}.")
        return frames

    def _check_side(self, name: str, value: Any) -> int:
        multiple = self.size_multiple
        allowed = f"a multiple of {multiple} from {multiple} to {MAX_SIDE} for this model"
        side = validate.integer(name, value, low=multiple, high=MAX_SIDE, hint=f"It must be {allowed}.")
        if side % multiple:
            below = side // multiple * multiple
            raise InputError(name, value, allowed, f"The nearest valid sizes are {max(below, multiple)} and "
                                                   f"{below + multiple} (the VAE and patch size need it).")
        return side

    def _info(self):
        from pipelines import TASKS

        return TASKS[self.task].model_info(self.model_id)


def flow_shift_for(family: str, height: int, width: int) -> float:
    """Wan's recommended ``flow_shift`` for a model family at a size (see the module docstring; the tiny twins
    follow their family)."""
    low, high = FLOW_SHIFTS["wan2.2-ti2v" if family.endswith("ti2v") else "wan2.1"]
    area = height * width
    # 720P when the area is nearer 720 x 1280 than 480 x 832 on a log scale: area^2 >= 480P area * 720P area
    return high if area * area >= AREA_480P * AREA_720P else low


def best_output_size(w: int, h: int, dw: int, dh: int, expected_area: int) -> tuple[int, int] | None:
    """Wan's ``best_output_size`` (Wan-Video/Wan2.2 ``wan/utils/utils.py``): ``(width, height)`` in multiples of
    `dw` / `dh` within `expected_area` whose ratio is nearest ``w / h``. Upstream fits "width first" and "height
    first" and keeps the nearer ratio; a candidate with a side of 0 (a very long, thin image; upstream's assertion
    fails there) is skipped; None when both are."""
    ratio = w / h
    ow = (expected_area * ratio) ** 0.5
    oh = expected_area / ow
    candidates = []
    ow1 = int(ow // dw * dw)  # width first
    if ow1 > 0:
        oh1 = int(expected_area / ow1 // dh * dh)
        candidates.append((ow1, oh1))
    oh2 = int(oh // dh * dh)  # height first
    if oh2 > 0:
        ow2 = int(expected_area / oh2 // dw * dw)
        candidates.append((ow2, oh2))
    candidates = [(cw, ch) for cw, ch in candidates if cw > 0 and ch > 0]
    if not candidates:
        return None

    def off(size: tuple[int, int]) -> float:
        return max(ratio / (size[0] / size[1]), (size[0] / size[1]) / ratio)

    # upstream: width first only when strictly nearer (`<`); a tie goes to height first
    return candidates[-1] if len(candidates) == 1 or off(candidates[1]) <= off(candidates[0]) else candidates[0]


def cover_and_crop(picture: Any, width: int, height: int) -> Any:
    """Scale `picture` (Lanczos) to cover ``width x height`` and centre-crop it, as Wan 2.2's ``WanTI2V.i2v``
    prepares its first frame (``scale = max(ow / iw, oh / ih)``, ``round`` the sides, crop ``(w - ow) // 2``)."""
    from PIL import Image

    if picture.size == (width, height):
        return picture
    scale = max(width / picture.width, height / picture.height)
    resized = picture.resize((round(picture.width * scale), round(picture.height * scale)), Image.Resampling.LANCZOS)
    left, top = (resized.width - width) // 2, (resized.height - height) // 2
    return resized.crop((left, top, left + width, top + height))


__all__ = ["DEFAULTS", "DEFAULT_NEGATIVE_PROMPT", "TextToVideoPipeline", "VideoResult", "best_output_size",
           "cover_and_crop", "flow_shift_for"]
