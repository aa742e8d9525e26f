"""finetune.sd_lora on the tiny Stable Diffusion twin (64 px): the LoRA changes the seeded image through the pipeline
exactly as diffusers' own load_lora_weights does, unloads cleanly, resumes, and bad input fails before training."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from finetune import sd_lora
from finetune.run import RunFolders
from finetune.sd_lora import cli, main, make_parser
from pipelines import load
from pipelines.errors import ModelLoadError

STEPS = 12
PROMPT = "a photo of sks mug"


def write_images(folder: Path, n: int = 6, size: tuple[int, int] = (80, 72), seed: int = 0) -> Path:
    """`n` small PNGs of one "object" (a red disc on varied backgrounds), as a user's photo folder."""
    from PIL import Image, ImageDraw

    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        image = Image.new("RGB", size, tuple(rng.randrange(256) for _ in range(3)))
        ImageDraw.Draw(image).ellipse((10 + i, 8, 58 + i, 56), fill=(200, 30, 30))
        image.save(folder / f"mug-{i}.png")
    return folder


def parse(argv: list[str]):
    (args,) = make_parser().parse_args_into_dataclasses(args=argv)
    return args


def run_args(images: Path, output: Path, *extra: str) -> list[str]:
    return ["--model", "tiny", "--instance-dir", str(images), "--instance-prompt", PROMPT, "--output-dir",
            str(output), "--max-steps", str(STEPS), "--learning-rate", "5e-3", "--save-steps", "4",
            "--sample-every", "6", "--num-samples", "1", "--logging-steps", "2", *extra]


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    return write_images(tmp_path_factory.mktemp("photos") / "mug")


@pytest.fixture(scope="module")
def trained(tmp_path_factory, images):
    output = tmp_path_factory.mktemp("run") / "mug-lora"
    return output, main(parse(run_args(images, output)))


def pixels(result) -> np.ndarray:
    return np.asarray(result.images[0], dtype=np.float32)


def test_output_folder_is_complete(trained):
    output, metrics = trained
    assert metrics["global_step"] == STEPS and metrics["images"] == 6 and metrics["resolution"] == 64
    names = {p.name for p in output.iterdir()}
    assert {"pytorch_lora_weights.safetensors", "README.md", "metrics.json", "training_curve.png",
            "mmhub_run.json", "samples"} <= names
    assert sorted(p.name for p in (output / "samples").iterdir()) == ["step-000006-0.png", "step-000012-0.png"]
    assert [e["step"] for e in metrics["log_history"]] == [1, 2, 4, 6, 8, 10, 12]
    info = json.loads((output / "mmhub_run.json").read_text())
    assert info["task"] == "text-to-image" and info["base_model"] == "tiny" and info["adapter"]
    assert info["resolution"] == 64  # the training side, read back by the pipeline (lora_resolutions)
    card = (output / "README.md").read_text()
    assert "library_name: diffusers" in card and PROMPT in card and "load_lora_weights" in card
    assert not RunFolders(output, marker=sd_lora.MARKER).work.exists()


def test_lora_changes_the_seeded_image_like_diffusers_and_unloads(trained):
    from diffusers import StableDiffusionPipeline

    from pipelines import tiny

    output, _ = trained
    call = {"num_inference_steps": 2, "seed": 7}
    t2i = load("text-to-image", model="tiny")
    base = pixels(t2i(PROMPT, **call))
    t2i.set_lora(str(output))
    tuned = pixels(t2i(PROMPT, **call))
    assert np.abs(tuned - base).mean() > 1.0  # the LoRA changes the picture

    # parity: diffusers alone, load_lora_weights on the same checkpoint, the same seed -> the same image
    raw = StableDiffusionPipeline.from_pretrained(tiny.build("text-to-image"), safety_checker=None)
    raw.set_progress_bar_config(disable=True)
    raw.load_lora_weights(str(output))
    expected = raw(PROMPT, num_inference_steps=2, guidance_scale=7.5, height=64, width=64,
                   generator=torch.Generator("cpu").manual_seed(7)).images[0]
    np.testing.assert_allclose(tuned, np.asarray(expected, dtype=np.float32), atol=1.0)

    t2i.set_lora(str(output), 0.0)
    np.testing.assert_array_equal(pixels(t2i(PROMPT, **call)), base)  # scale 0: the base model
    t2i.set_lora(str(output), 1.0)
    t2i.unload_lora()
    np.testing.assert_array_equal(pixels(t2i(PROMPT, **call)), base)  # unloaded: exactly the base again
    assert t2i.loras.names == {} and not getattr(t2i.pipe.unet, "peft_config", None)

    half = pixels(load("text-to-image", model="tiny", lora=str(output), lora_scale=0.5)(PROMPT, **call))
    assert 0 < np.abs(half - base).mean() < np.abs(tuned - base).mean()


def test_the_trainers_preview_is_reproduced_through_load(trained):
    """The last preview sample the trainer drew (and shows on the card) is what load() draws with the run's seed."""
    from PIL import Image

    output, metrics = trained
    last = metrics["samples"][-1]
    assert last["step"] == STEPS
    preview = np.asarray(Image.open(output / last["file"]), dtype=np.float32)
    t2i = load("text-to-image", model="tiny", lora=str(output))
    assert t2i.lora_resolutions == {str(output): 64} == {str(output): t2i.native_size}
    drawn = pixels(t2i(PROMPT, seed=42))  # the trainer's --seed; default steps, guidance and size
    assert drawn.shape == preview.shape == (64, 64, 3)
    np.testing.assert_allclose(drawn, preview, atol=1.0)


def test_a_lora_trained_at_another_resolution_is_noted(tmp_path, caplog):
    import logging

    from finetune.catalog import write_run_info

    folder = random_lora(tmp_path / "small")
    write_run_info(folder, task="text-to-image", trainer="finetune.sd_lora", base_model="tiny", adapter=True,
                   resolution=32)
    with caplog.at_level(logging.WARNING, logger="pipelines.image_generation"):
        t2i = load("text-to-image", model="tiny", lora=str(folder))
    assert "trained at 32 px" in caplog.text and "height=32, width=32" in caplog.text
    assert t2i.lora_resolutions == {str(folder): 32}
    assert t2i(PROMPT, num_inference_steps=1, seed=0).images[0].size == (64, 64)  # native, as diffusers draws
    assert t2i(PROMPT, num_inference_steps=1, seed=0, height=32, width=32).images[0].size == (32, 32)


def random_lora(folder: Path, seed: int = 0) -> Path:
    """An untrained LoRA for the tiny twin whose B matrices are random (peft starts them at zero)."""
    from diffusers import StableDiffusionPipeline

    from pipelines import tiny

    unet = StableDiffusionPipeline.from_pretrained(tiny.build("text-to-image")).unet
    sd_lora.add_lora(unet, parse(["--output-dir", "x", "--instance-dir", "x", "--instance-prompt", PROMPT]))
    torch.manual_seed(seed)
    for name, parameter in unet.named_parameters():
        if "lora_B" in name:
            parameter.data.normal_(0.0, 0.5)
    folder.mkdir(parents=True)
    sd_lora.save_lora(unet, folder)
    return folder


def test_several_loras_combine(trained, tmp_path):
    output, _ = trained
    style = random_lora(tmp_path / "style")
    call = {"num_inference_steps": 2, "seed": 5}
    t2i = load("text-to-image", model="tiny")
    singles = []
    for lora in (str(output), str(style)):
        t2i.set_lora(lora)
        singles.append(pixels(t2i(PROMPT, **call)))
    t2i.set_lora([str(output), str(style)], [1.0, 0.7])
    both = pixels(t2i(PROMPT, **call))
    assert t2i.loras.active == [(str(output), 1.0), (str(style), 0.7)] and len(t2i.loras.names) == 2
    assert all(np.abs(both - single).mean() > 0.1 for single in singles)
    t2i.set_lora(None)  # off: unloaded, the base model exactly
    np.testing.assert_array_equal(pixels(t2i(PROMPT, **call)), pixels(load("text-to-image", model="tiny")(
        PROMPT, **call)))
    assert t2i.loras.names == {} and not getattr(t2i.pipe.unet, "peft_config", None)
    t2i.set_lora([str(output), str(style)], [1.0, 0.7])  # and on again (loaded again)
    np.testing.assert_array_equal(pixels(t2i(PROMPT, **call)), both)


def test_a_request_keeps_only_its_own_loras_in_the_shared_unet(trained, tmp_path):
    """The cached UNet serves every request: LoRAs of earlier requests are deleted, not piled up."""
    output, _ = trained
    style = random_lora(tmp_path / "style", seed=1)
    call = {"num_inference_steps": 2, "seed": 5}
    t2i = load("text-to-image", model="tiny")
    t2i.set_lora(str(output))
    t2i.set_lora(str(style))
    assert list(t2i.loras.names) == [str(style)]
    assert t2i.pipe.get_list_adapters() == {"unet": [t2i.loras.names[str(style)]]}
    only_style = pixels(t2i(PROMPT, **call))
    fresh = load("text-to-image", model="tiny")
    fresh.set_lora(str(style))
    np.testing.assert_array_equal(only_style, pixels(fresh(PROMPT, **call)))
    t2i.set_lora([str(style), str(output)])  # a new name for a reloaded source: no clash with the kept one
    assert len(set(t2i.loras.names.values())) == 2 and len(t2i.pipe.get_list_adapters()["unet"]) == 2


def test_interrupted_run_resumes_to_the_same_lora(tmp_path, images, trained, monkeypatch, capsys):
    from safetensors.torch import load_file

    output, uninterrupted = trained
    resumed_output = tmp_path / "mug-lora"
    argv = run_args(images, resumed_output)
    real_checkpoint = sd_lora._checkpoint

    def killed_after_first_checkpoint(*args, **kwargs):
        real_checkpoint(*args, **kwargs)
        raise KeyboardInterrupt  # as a kill right after checkpoint-4 was complete

    monkeypatch.setattr(sd_lora, "_checkpoint", killed_after_first_checkpoint)
    with pytest.raises(KeyboardInterrupt):
        main(parse(argv))
    monkeypatch.setattr(sd_lora, "_checkpoint", real_checkpoint)
    folders = RunFolders(resumed_output, marker=sd_lora.MARKER)
    assert Path(folders.last_checkpoint()).name == "checkpoint-4" and not resumed_output.exists()
    half_written = folders.checkpoints / "checkpoint-8"  # a later checkpoint killed while saving: no marker
    half_written.mkdir()
    (half_written / "optimizer.pt").write_bytes(b"partial")
    assert cli(argv) == 2  # leftover checkpoints need --resume (or --overwrite)
    marker = folders.checkpoints / "checkpoint-4" / sd_lora.MARKER
    state = json.loads(marker.read_text())
    assert state["num_processes"] == 1
    marker.write_text(json.dumps({**state, "num_processes": 2}))  # as if it had run under accelerate launch -n 2
    assert cli([*argv, "--resume"]) == 2  # refused before the model loads
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: --resume: the interrupted run trained on 2 process") and "--num_processes 2" \
        in err[-1] and "runs on 1" in err[-1], err
    marker.write_text(json.dumps(state))

    resumed = main(parse([*argv, "--resume"]))
    assert resumed["global_step"] == STEPS
    assert [e["step"] for e in resumed["log_history"]] == [e["step"] for e in uninterrupted["log_history"]]
    ours = load_file(resumed_output / "pytorch_lora_weights.safetensors")
    reference = load_file(output / "pytorch_lora_weights.safetensors")
    assert ours.keys() == reference.keys()
    for key in ours:  # per-step seeded crops, noise and timesteps: the resumed run retraces the uninterrupted one
        torch.testing.assert_close(ours[key], reference[key], rtol=1e-4, atol=1e-6)


def test_resume_checks_the_number_of_processes(tmp_path, caplog):
    """A checkpoint records its number of processes: another number is refused, an older checkpoint (without the
    count) resumes with a warning."""
    from finetune.run import UsageError

    checkpoint = tmp_path / "checkpoint-4"
    checkpoint.mkdir()
    (checkpoint / sd_lora.MARKER).write_text(json.dumps({"global_step": 4, "num_processes": 3}))
    sd_lora.check_resume_processes(str(checkpoint), 3)
    with pytest.raises(UsageError, match=r"trained on 3 process\(es\), this one runs on 2.*--num_processes 3"):
        sd_lora.check_resume_processes(str(checkpoint), 2)
    (checkpoint / sd_lora.MARKER).write_text(json.dumps({"global_step": 4}))
    sd_lora.check_resume_processes(str(checkpoint), 2)
    assert "does not record how many processes" in caplog.text


def lora_for_another_base(folder: Path) -> Path:
    """A LoRA saved from a UNet with another text width (cross-attention 16, not the tiny twin's 8)."""
    from diffusers import StableDiffusionPipeline, UNet2DConditionModel
    from peft import LoraConfig

    torch.manual_seed(0)
    unet = UNet2DConditionModel(block_out_channels=(4, 8), layers_per_block=1, sample_size=32, in_channels=4,
                                out_channels=4, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                                up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=16,
                                norm_num_groups=2)
    unet.add_adapter(LoraConfig(r=4, lora_alpha=4, init_lora_weights="gaussian",
                                target_modules=sd_lora.TARGET_MODULES))
    folder.mkdir(parents=True)
    StableDiffusionPipeline.save_lora_weights(folder, unet_lora_layers=sd_lora.lora_state(unet))
    (folder / "mmhub_run.json").write_text(json.dumps({"task": "text-to-image", "base_model": "someone/other-sd"}))
    return folder


def test_a_lora_for_another_base_is_refused_cleanly(tmp_path):
    t2i = load("text-to-image", model="tiny")
    before = pixels(t2i(PROMPT, num_inference_steps=2, seed=1))
    with pytest.raises(ModelLoadError, match="trained on 'someone/other-sd'") as caught:
        t2i.set_lora(str(lora_for_another_base(tmp_path / "other")))
    assert caught.value.reason == "incompatible" and "attn2.to_k" in str(caught.value)
    assert t2i.loras.names == {} and not getattr(t2i.pipe.unet, "peft_config", None)  # nothing half-applied
    np.testing.assert_array_equal(pixels(t2i(PROMPT, num_inference_steps=2, seed=1)), before)


@pytest.mark.parametrize("lora, scale, message", [
    (123, 1.0, "`lora` must be"),
    ([], 1.0, "`lora` must be"),
    ("x", float("nan"), "`lora_scale` must be"),
    ("x", 1e300, "`lora_scale` must be"),
    (["a", "b"], [1.0], "one per LoRA"),
    ("/no/such/folder", 1.0, "an existing LoRA folder"),
])
def test_lora_arguments_are_validated(lora, scale, message):
    from pipelines.errors import InputError

    t2i = load("text-to-image", model="tiny")
    with pytest.raises(InputError, match=message):
        t2i.set_lora(lora, scale)


def assert_clean_failure(capsys, argv: list[str], output: Path, *fragments: str) -> None:
    assert cli(argv) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1].startswith("error: ") and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in err, err
    assert not output.exists() and not RunFolders(output, marker=sd_lora.MARKER).work.exists()


def test_bad_image_folders_fail_before_training(tmp_path, capsys):
    output = tmp_path / "never"
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no pictures here")
    assert_clean_failure(capsys, run_args(empty, output), output, "no images in the folder")
    assert_clean_failure(capsys, run_args(tmp_path / "missing", output), output, "no such folder")
    broken = write_images(tmp_path / "broken", n=3)
    (broken / "mug-9.jpg").write_bytes(b"\xff\xd8 this is not really a jpeg")
    assert_clean_failure(capsys, run_args(broken, output), output, "mug-9.jpg is not a readable image")
    tiny_pictures = write_images(tmp_path / "dots", n=3, size=(1, 1))
    assert_clean_failure(capsys, run_args(tiny_pictures, output), output, "1x1 pixels")
    assert_clean_failure(capsys, [*run_args(broken, output), "--prior-preservation"], output, "--class-prompt")
    assert_clean_failure(capsys, [*run_args(broken, output), "--resolution", "60"], output, "multiple of 8")
    assert_clean_failure(capsys, [*run_args(broken, output), "--learning-rate", "inf"], output, "`--learning-rate`")
    bad_prompt = run_args(broken, output)
    bad_prompt[bad_prompt.index(PROMPT)] = "a photo of \ud800 mug"
    assert_clean_failure(capsys, bad_prompt, output, "`--instance-prompt`")


@pytest.mark.parametrize("flag, value", [
    ("--rank", "0"), ("--max-steps", "0"), ("--gradient-accumulation-steps", "0"), ("--warmup-steps", "-1"),
    ("--num-class-images", "0"), ("--sample-every", "-1"), ("--num-samples", "17"), ("--save-steps", "0"),
    ("--save-total-limit", "0"), ("--logging-steps", "0"), ("--seed", "-1"), ("--batch-size", "0"),
    ("--lora-alpha", "0"), ("--resolution", "4"), ("--learning-rate", "nan"), ("--lora-dropout", "1"),
    ("--weight-decay", "2"), ("--max-grad-norm", "0"), ("--prior-loss-weight", "inf"), ("--lr-scheduler", "step"),
    ("--precision", "fp8"), ("--sample-prompt", ""), ("--model", " "), ("--class-prompt", "\ud800"),
])
def test_usage_errors_name_the_flag(flag, value):
    """Every bad argument is a UsageError naming the command-line flag (``--learning-rate``), not the dataclass
    field (``learning_rate``)."""
    from finetune.run import UsageError

    argv = ["--instance-dir", "x", "--instance-prompt", PROMPT, "--output-dir", "o", flag, value]
    if flag == "--class-prompt":
        argv += ["--prior-preservation", "--class-dir", "x"]
    with pytest.raises(UsageError) as caught:
        parse(argv)
    assert str(caught.value).startswith((f"`{flag}` must", f"{flag} must")), caught.value


def test_defaults_are_the_diffusers_example_values():
    # diffusers examples/dreambooth/README.md, "Training with LoRA": --resolution=512 --train_batch_size=1
    # --checkpointing_steps=100 --learning_rate=1e-4 --lr_scheduler="constant" --lr_warmup_steps=0
    # --max_train_steps=500; train_dreambooth_lora.py: --rank 4, --prior_loss_weight 1.0, LoraConfig target modules.
    args = parse(["--output-dir", "x", "--instance-dir", "x", "--instance-prompt", PROMPT])
    assert (args.batch_size, args.save_steps, args.learning_rate, args.lr_scheduler, args.warmup_steps,
            args.max_steps, args.rank, args.prior_loss_weight) == (1, 100, 1e-4, "constant", 0, 500, 4, 1.0)
    assert sd_lora.TARGET_MODULES == ["to_k", "to_q", "to_v", "to_out.0", "add_k_proj", "add_v_proj"]
    assert args.model == "stabilityai/sd-turbo" and args.resolution is None  # the model's own size: 512 for both


@pytest.mark.parametrize("schedule", ["linear", "cosine", "constant_with_warmup"])
def test_lr_schedule_is_the_same_on_one_process_or_several(schedule):
    """accelerate's prepared scheduler steps the wrapped one num_processes times per optimizer step (scheduler.py
    ``AcceleratedScheduler.step``, without split_batches): with 3 processes the learning rate must still warm up over
    --warmup-steps and reach the end of its curve at --max-steps, as on one process."""
    args = parse(["--instance-dir", "x", "--instance-prompt", PROMPT, "--output-dir", "o", "--max-steps", "10",
                  "--warmup-steps", "4", "--lr-scheduler", schedule, "--learning-rate", "1e-2"])

    def curve(processes: int) -> list[float]:
        optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=args.learning_rate)
        scheduler = sd_lora.make_lr_scheduler(args, optimizer, processes)
        lrs = []
        for _ in range(args.max_steps):
            optimizer.step()
            for _ in range(processes):  # what AcceleratedScheduler.step does on each of N processes
                scheduler.step()
            lrs.append(scheduler.get_last_lr()[0])
        return lrs

    one, three = curve(1), curve(3)
    assert three == pytest.approx(one)
    assert one[3] == pytest.approx(1e-2)  # warmed up after 4 optimizer steps
    if schedule != "constant_with_warmup":
        assert one[-1] == pytest.approx(0.0, abs=1e-12) and one[-2] > 0


def test_a_single_safetensors_file_loads_like_its_folder(tmp_path):
    import shutil

    style = random_lora(tmp_path / "style")
    single = tmp_path / "style.safetensors"
    shutil.copy(style / "pytorch_lora_weights.safetensors", single)
    call = {"num_inference_steps": 2, "seed": 5}
    t2i = load("text-to-image", model="tiny")
    t2i.set_lora(str(style))
    from_folder = pixels(t2i(PROMPT, **call))
    t2i.set_lora(str(single))
    np.testing.assert_array_equal(pixels(t2i(PROMPT, **call)), from_folder)
    np.testing.assert_array_equal(pixels(load("text-to-image", model="tiny", lora=str(single))(PROMPT, **call)),
                                  from_folder)


def test_bad_lora_files_are_refused_and_a_failed_request_changes_nothing(tmp_path):
    """Not safetensors, empty, integer tensors, NaN, 1e30 (checked before anything loads), and a file diffusers
    cannot load (found while loading the second LoRA of a request): each is refused, and the pipeline's LoRAs,
    its `.loras.active` and its images are exactly what they were."""
    from safetensors.torch import load_file, save_file

    from pipelines.errors import InputError

    good, other = random_lora(tmp_path / "good"), random_lora(tmp_path / "other", seed=1)
    weights = load_file(str(good / "pytorch_lora_weights.safetensors"))
    first = next(iter(weights))

    def file(name: str, tensors=None, raw: bytes | None = None) -> str:
        path = tmp_path / name
        if raw is not None:
            path.write_bytes(raw)
        else:
            save_file(tensors, str(path))
        return str(path)

    nan = {**weights, first: weights[first].clone().fill_(float("nan"))}
    cases = [
        (file("text.safetensors", raw=b"this is not a safetensors file"), InputError, "not a readable safetensors"),
        (file("empty.safetensors", raw=b""), InputError, "empty.safetensors is empty"),
        (file("int.safetensors", {k: v.to(torch.int32) for k, v in weights.items()}), InputError,
         "holds torch.int32 values, not floating-point weights"),
        (file("nan.safetensors", nan), InputError, "holds NaN or infinite values"),
        (file("huge.safetensors", {k: v * 0 + 1e30 for k, v in weights.items()}), InputError,
         r"holds a weight of 1e\+30, beyond float16.s range"),
        (file("nolora.safetensors", {"unet.foo.weight": torch.zeros(2, 2)}), ModelLoadError,
         "diffusers cannot load this LoRA"),
    ]
    call = {"num_inference_steps": 2, "seed": 3}
    t2i = load("text-to-image", model="tiny")
    t2i.set_lora(str(other), 0.8)
    before, names, adapters = pixels(t2i(PROMPT, **call)), dict(t2i.loras.names), t2i.pipe.get_list_adapters()
    for path, error, message in cases:
        with pytest.raises(error, match=message) as info:
            t2i.set_lora([str(good), path])  # the good one is new: loaded (last case), then taken out again
        assert path in str(info.value)
        assert t2i.loras.active == [(str(other), 0.8)] and t2i.loras.names == names, path
        assert t2i.pipe.get_list_adapters() == adapters, path
        np.testing.assert_array_equal(pixels(t2i(PROMPT, **call)), before)
    t2i.set_lora(None)
    with pytest.raises(InputError, match="holds NaN"):
        t2i.set_lora([str(good), cases[3][0]])
    assert t2i.loras.active == [] and not getattr(t2i.pipe.unet, "peft_config", None)
    t2i.set_lora([str(good), str(other)], [1.0, 0.8])  # and a good request still works
    assert [s for s, _ in t2i.loras.active] == [str(good), str(other)]
