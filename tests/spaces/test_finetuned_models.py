"""Fine-tuned generators in the Spaces: finished finetune.lm runs in the Chat model list, LoRAs in the image tab."""

from __future__ import annotations

import json

import gradio as gr
import numpy as np
import pytest

from finetune.catalog import write_run_info
from spaces.common import Context
from spaces.image_generation import parse_loras
from spaces.text_generation import SPACE as CHAT
from spaces.text_generation import fine_tuned_choices


def test_parse_loras(tmp_path):
    (tmp_path / "runs" / "mug").mkdir(parents=True)
    (tmp_path / "runs" / "watercolor").mkdir()
    ctx = Context(models="tiny", local_model_dirs=[tmp_path / "runs"])
    assert parse_loras(ctx, "") is None and parse_loras(ctx, None) is None and parse_loras(ctx, " , \n") is None
    text = f"{tmp_path}/runs/mug, someone/style-lora\n{tmp_path}/runs/watercolor"
    assert parse_loras(ctx, text) == [str((tmp_path / "runs" / "mug").resolve()), "someone/style-lora",
                                      str((tmp_path / "runs" / "watercolor").resolve())]
    with pytest.raises(gr.Error, match="allow-local-models"):  # a folder outside the allowed ones
        parse_loras(ctx, str(tmp_path))
    with pytest.raises(gr.Error):  # not a Hub id either
        parse_loras(ctx, "not a valid id!")


def test_chat_model_list_offers_finished_runs_under_the_allowed_folders(tmp_path):
    run = tmp_path / "runs" / "bielik-pl-lora"
    run.mkdir(parents=True)
    write_run_info(run, task="text-generation", trainer="finetune.lm", base_model="tiny-chat", adapter=True)
    image_run = tmp_path / "runs" / "mug"
    image_run.mkdir()
    write_run_info(image_run, task="text-to-image", trainer="finetune.sd_lora", base_model="tiny", adapter=True)

    ctx = Context(models="tiny")
    assert fine_tuned_choices(ctx) == []  # no --allow-local-models folders: nothing listed
    ctx = Context(models="tiny", local_model_dirs=[tmp_path / "runs"])
    assert fine_tuned_choices(ctx) == [("bielik-pl-lora · LoRA on tiny-chat", str(run.resolve()))]
    with gr.Blocks() as demo:
        CHAT.build(ctx)
    dropdowns = [block for block in demo.blocks.values() if isinstance(block, gr.Dropdown)]
    choices = [value for dropdown in dropdowns for _, value in dropdown.choices]
    assert str(run.resolve()) in choices and "tiny-chat" in choices and str(image_run.resolve()) not in choices


def test_image_tab_applies_a_lora_from_its_field(client, local_models, tmp_path):
    import torch
    from diffusers import StableDiffusionPipeline

    from finetune import sd_lora
    from pipelines import tiny
    from tests.spaces.test_app import _gallery_images

    pipe = StableDiffusionPipeline.from_pretrained(tiny.build("text-to-image"))
    sd_lora.add_lora(pipe.unet, sd_lora.SDLoraArguments(output_dir="x", instance_dir="x", instance_prompt="x"))
    torch.manual_seed(0)
    for name, parameter in pipe.unet.named_parameters():
        if "lora_B" in name:  # peft starts B at zero (no change); a trained LoRA has moved it
            parameter.data.normal_(0.0, 0.5)
    folder = local_models["allowed"] / "lora"  # LoRA folders, like models, only under --allow-local-models
    folder.mkdir()
    sd_lora.save_lora(pipe.unet, folder)
    (folder / "mmhub_run.json").write_text(json.dumps({"task": "text-to-image", "base_model": "tiny"}))

    def image(*lora):
        gallery, _ = client.predict("a sks mug", "", 2, 7.5, 0, 0, 1, 3, "tiny", *lora, api_name="/text_to_image")
        return np.asarray(_gallery_images(gallery)[0], dtype=np.float32)

    base = image()
    with_lora = image(str(folder), 1.0)
    assert np.abs(with_lora - base).mean() > 0.5
    np.testing.assert_array_equal(image("", 1.0), base)  # an empty field turns LoRA off again
    with pytest.raises(Exception, match="lora"):
        image(str(local_models["allowed"] / "no-such-lora"), 1.0)
    with pytest.raises(Exception, match="allow-local-models"):
        image(str(tmp_path), 1.0)  # a folder outside the allowed ones
