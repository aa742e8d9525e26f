"""finetune.sd_lora vs the training loop of diffusers' DreamBooth LoRA example: steps per second on the tiny twin.

    python -m benchmarks.finetune_sd_lora            # 6 images, tiny Stable Diffusion (64 px), 40 / 120 steps
    python -m benchmarks.finetune_sd_lora --quick    # 20 / 60 steps

The example (``examples/dreambooth/train_dreambooth_lora.py``) imports torchvision, which this project cannot
install, so its loop is reproduced here step for step: components loaded one by one,
``unet.add_adapter(LoraConfig(...))``, a ``DreamBoothDataset`` (resize, random crop, normalise; PIL and NumPy in
place of torchvision's transforms) in a shuffled ``DataLoader``, the prompt encoded by the text encoder at every
step (its default), VAE encoding, noise, timesteps, ``add_noise``, the UNet, MSE, ``accelerator.backward``,
clipping, AdamW, a constant schedule. finetune.sd_lora runs its whole CLI path (checks, run folders, card, publish)
with previews and checkpoints off. Each is run for two step counts and timed end to end; the slope (seconds per
extra step) removes the fixed costs (imports, loading, saving). The runs alternate, ``--repeats`` times; medians.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import torch

from benchmarks.common import parser

PROMPT = "a photo of sks mug"
#: Time in CPU seconds of this process (`--cpu-time`): steadier than wall time on a shared machine.
CPU_TIME = False


def clock() -> float:
    return time.process_time() if CPU_TIME else time.perf_counter()


def write_images(folder: Path, n: int = 6) -> Path:
    from tests.finetune.test_sd_lora import write_images as write

    return write(folder, n=n)


def example_loop(model: Path, images: Path, steps: int, seed: int = 42) -> float:
    """Seconds for the example's set-up and `steps` training steps (its defaults: rank 4, lr 1e-4, batch 1)."""
    import numpy as np
    import torch.nn.functional as F  # noqa: N812
    from accelerate import Accelerator
    from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
    from diffusers.optimization import get_scheduler
    from peft import LoraConfig
    from PIL import Image
    from transformers import AutoTokenizer, CLIPTextModel

    start = clock()
    accelerator = Accelerator()
    torch.manual_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(model, subfolder="tokenizer", use_fast=False)
    noise_scheduler = DDPMScheduler.from_pretrained(model, subfolder="scheduler")
    text_encoder = CLIPTextModel.from_pretrained(model, subfolder="text_encoder")
    vae = AutoencoderKL.from_pretrained(model, subfolder="vae")
    unet = UNet2DConditionModel.from_pretrained(model, subfolder="unet")
    vae.requires_grad_(False)
    text_encoder.requires_grad_(False)
    unet.requires_grad_(False)
    unet.add_adapter(LoraConfig(r=4, lora_alpha=4, lora_dropout=0.0, init_lora_weights="gaussian",
                                target_modules=["to_k", "to_q", "to_v", "to_out.0", "add_k_proj", "add_v_proj"]))
    params = [p for p in unet.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-4, betas=(0.9, 0.999), weight_decay=1e-2, eps=1e-8)
    size = int(unet.config.sample_size) * 2 ** (len(vae.config.block_out_channels) - 1)

    class DreamBoothDataset(torch.utils.data.Dataset):  # the example's, without torchvision
        def __init__(self):
            self.paths = sorted(images.iterdir())

        def __len__(self):
            return len(self.paths)

        def __getitem__(self, index):
            image = Image.open(self.paths[index % len(self.paths)]).convert("RGB")
            scale = size / min(image.size)
            image = image.resize((max(size, round(image.width * scale)), max(size, round(image.height * scale))),
                                 Image.Resampling.LANCZOS)
            left = np.random.randint(0, image.width - size + 1)
            top = np.random.randint(0, image.height - size + 1)
            array = np.asarray(image.crop((left, top, left + size, top + size)), dtype=np.float32) / 127.5 - 1
            ids = tokenizer(PROMPT, truncation=True, padding="max_length", max_length=tokenizer.model_max_length,
                            return_tensors="pt")
            return {"instance_images": torch.from_numpy(array).permute(2, 0, 1),
                    "instance_prompt_ids": ids.input_ids}

    def collate(examples):
        return {"input_ids": torch.cat([e["instance_prompt_ids"] for e in examples]),
                "pixel_values": torch.stack([e["instance_images"] for e in examples]).float()}

    loader = torch.utils.data.DataLoader(DreamBoothDataset(), batch_size=1, shuffle=True, collate_fn=collate)
    lr_scheduler = get_scheduler("constant", optimizer=optimizer, num_warmup_steps=0, num_training_steps=steps)
    unet, optimizer, loader, lr_scheduler = accelerator.prepare(unet, optimizer, loader, lr_scheduler)
    step = 0
    while step < steps:
        unet.train()
        for batch in loader:
            with accelerator.accumulate(unet):
                latents = vae.encode(batch["pixel_values"]).latent_dist.sample() * vae.config.scaling_factor
                noise = torch.randn_like(latents)
                timesteps = torch.randint(0, noise_scheduler.config.num_train_timesteps, (latents.shape[0],)).long()
                noisy = noise_scheduler.add_noise(latents, noise, timesteps)
                encoder_hidden_states = text_encoder(batch["input_ids"], return_dict=False)[0]
                pred = unet(noisy, timesteps, encoder_hidden_states, return_dict=False)[0]
                loss = F.mse_loss(pred.float(), noise.float(), reduction="mean")
                accelerator.backward(loss)
                if accelerator.sync_gradients:
                    accelerator.clip_grad_norm_(params, 1.0)
                optimizer.step()
                lr_scheduler.step()
                optimizer.zero_grad()
            step += 1
            if step >= steps:
                break
    return clock() - start


def mmhub_run(model: str, images: Path, output: Path, steps: int) -> float:
    from finetune.sd_lora import main, make_parser

    start = clock()
    (args,) = make_parser().parse_args_into_dataclasses(args=[
        "--model", model, "--instance-dir", str(images), "--instance-prompt", PROMPT, "--output-dir", str(output),
        "--max-steps", str(steps), "--sample-every", "0", "--num-samples", "0", "--save-steps", str(10**6),
        "--logging-steps", "10"])
    main(args)
    return clock() - start


def main(argv: list[str] | None = None) -> None:
    p = parser(__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=3, help="runs per method and step count (default 3)")
    p.add_argument("--cpu-time", action="store_true", help="CPU seconds of this process instead of wall time")
    args = p.parse_args(argv)
    global CPU_TIME
    CPU_TIME = args.cpu_time
    short, long = (20, 60) if args.quick else (40, 120)
    from pipelines import tiny

    model = tiny.build("text-to-image")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        images = write_images(work / "mug")
        example_loop(model, images, 2)  # warm-up: imports and caches
        mmhub_run("tiny", images, work / "warm", 2)
        times: dict[tuple[str, int], list[float]] = {}
        for run in range(args.repeats):
            for steps in (short, long):
                times.setdefault(("example", steps), []).append(example_loop(model, images, steps))
                times.setdefault(("mmhub", steps), []).append(
                    mmhub_run("tiny", images, work / f"out-{run}-{steps}", steps))
        print(f"\n## DreamBooth LoRA, tiny Stable Diffusion (64 px), 6 images, batch 1, "
              f"{'cuda' if torch.cuda.is_available() else 'cpu'} (median of {args.repeats})")
        rates = {}
        labels = {"example": "diffusers example loop (reproduced)", "mmhub": "python -m finetune.sd_lora"}
        for name, label in labels.items():
            a, b = statistics.median(times[(name, short)]), statistics.median(times[(name, long)])
            rates[name] = (long - short) / (b - a)
            print(f"  {label:<40} {rates[name]:8.1f} steps/s   ({short} steps {a:6.2f} s, {long} steps {b:6.2f} s)")
        print(f"  finetune.sd_lora / example: {rates['mmhub'] / rates['example']:.2f}x steps/s")


if __name__ == "__main__":
    main()
