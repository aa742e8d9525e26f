"""The official ``openai`` SDK against ``python -m spaces``: models, chat (plain and streamed, greedy equal to the
pipeline), completions, images (generations and edits), saved voices and speech in one of them."""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from .conftest import png_bytes, speech_clip, wav_bytes

CHAT = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Name a colour."}]


@pytest.fixture(scope="module")
def client(api):
    return api.openai()


@pytest.fixture(scope="module")
def pipeline():
    from pipelines import load

    return load("text-generation", model="tiny-chat")


def test_models_lists_the_registry_the_tiny_models_and_the_allowed_finished_run(client, api):
    models = {m.id: m for m in client.models.list()}
    assert models["tiny-chat"].model_extra["task"] == "text-generation"
    assert models["stabilityai/sd-turbo"].model_extra["tasks"][:2] == ["text-to-image", "image-to-image"]
    assert models["stabilityai/sd-turbo"].owned_by == "stabilityai"
    run = str((api.runs / "my-chat-lora").resolve())
    assert models[run].model_extra["task"] == "text-generation" and models[run].owned_by == "local"
    assert all(m.object == "model" for m in models.values())
    assert client.models.retrieve("tiny-chat").id == "tiny-chat"


def test_chat_greedy_equals_the_pipeline_plain_and_streamed(client, pipeline):
    expected = pipeline(CHAT, max_new_tokens=12, temperature=0)
    reply = client.chat.completions.create(model="tiny-chat", messages=CHAT, max_tokens=12, temperature=0)
    assert reply.choices[0].message.content == expected.text
    assert reply.choices[0].finish_reason == expected.finish_reason
    assert reply.usage.prompt_tokens == expected.prompt_tokens
    assert reply.usage.completion_tokens == expected.new_tokens
    assert reply.usage.total_tokens == expected.prompt_tokens + expected.new_tokens

    chunks = list(client.chat.completions.create(model="tiny-chat", messages=CHAT, max_completion_tokens=12,
                                                 temperature=0, stream=True,
                                                 stream_options={"include_usage": True}))
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == expected.text
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == expected.finish_reason
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == expected.new_tokens


def test_chat_seed_n_stop_and_logprobs(client, pipeline):
    one = client.chat.completions.create(model="tiny-chat", messages=CHAT, max_tokens=8, seed=7, n=2)
    again = client.chat.completions.create(model="tiny-chat", messages=CHAT, max_tokens=8, seed=7, n=2)
    assert [c.message.content for c in one.choices] == [c.message.content for c in again.choices]
    assert len(one.choices) == 2 and 2 <= one.usage.completion_tokens <= 16

    full = client.chat.completions.create(model="tiny-chat", messages=CHAT, max_tokens=10, temperature=0)
    text = full.choices[0].message.content
    stop = text[3:5]
    cut = client.chat.completions.create(model="tiny-chat", messages=CHAT, max_tokens=10, temperature=0, stop=[stop])
    assert cut.choices[0].message.content == text[: text.find(stop)]
    assert cut.choices[0].finish_reason == "stop"

    probed = client.chat.completions.create(model="tiny-chat", messages=CHAT, max_tokens=6, temperature=0,
                                            logprobs=True, top_logprobs=3)
    content = probed.choices[0].logprobs.content
    assert "".join(t.token for t in content) == probed.choices[0].message.content
    for token in content:  # greedy: the chosen token is the most likely one, and its logprob is the top one
        assert len(token.top_logprobs) == 3 and token.logprob == pytest.approx(token.top_logprobs[0].logprob)
        assert token.logprob <= 0


def test_completions_prompts_n_and_logprobs(client, pipeline):
    expected = pipeline("Once upon a time", max_new_tokens=6, temperature=0)
    reply = client.completions.create(model="tiny", prompt=["Once upon a time", "Hello"], max_tokens=6,
                                      temperature=0, n=2, logprobs=2)
    assert len(reply.choices) == 4 and [c.index for c in reply.choices] == [0, 1, 2, 3]
    assert reply.choices[0].text == reply.choices[1].text  # greedy: n copies
    gpt2 = __import__("pipelines").load("text-generation", model="tiny")
    assert reply.choices[0].text == gpt2("Once upon a time", max_new_tokens=6, temperature=0).text
    assert len(reply.choices[0].logprobs.tokens) == len(reply.choices[0].logprobs.top_logprobs)
    streamed = "".join(c.choices[0].text for c in client.completions.create(
        model="tiny", prompt="Once upon a time", max_tokens=6, temperature=0, stream=True) if c.choices)
    assert streamed == reply.choices[0].text
    assert expected.text  # the chat model made text too: the two tiny models are both served
    # `stop` applies to the completion only: " cata" (the prompt's " cat", the reply's first "a") ends nothing
    whole = client.completions.create(model="tiny", prompt="The cat", max_tokens=6, temperature=0)
    across = client.completions.create(model="tiny", prompt="The cat", max_tokens=6, temperature=0, stop=[" cata"])
    assert whole.choices[0].text.startswith("a") and " cata" not in whole.choices[0].text
    assert (across.choices[0].text, across.choices[0].finish_reason) == (whole.choices[0].text, "length")


def test_image_generations_are_seeded_and_sized(client):
    first = client.images.generate(model="tiny", prompt="a red fox", size="64x64", response_format="b64_json", n=2,
                                   extra_body={"seed": 3, "num_inference_steps": 2})
    again = client.images.generate(model="tiny", prompt="a red fox", size="64x64", response_format="b64_json", n=2,
                                   extra_body={"seed": 3, "num_inference_steps": 2})
    assert len(first.data) == 2 and first.size == "64x64" and first.model_extra["seed"] == 3
    picture = Image.open(io.BytesIO(base64.b64decode(first.data[0].b64_json)))
    assert picture.size == (64, 64)
    assert [d.b64_json for d in again.data] == [d.b64_json for d in first.data]  # the same seed, the same images
    jpeg = client.images.generate(model="tiny", prompt="a red fox", size="64x64", output_format="jpeg",
                                  output_compression=50, extra_body={"seed": 3, "num_inference_steps": 2})
    assert base64.b64decode(jpeg.data[0].b64_json)[:3] == b"\xff\xd8\xff"


def test_image_edits_redraw_the_upload(client):
    edited = client.images.edit(model="tiny", image=("start.png", png_bytes((64, 48)), "image/png"),
                                prompt="a cat", extra_body={"seed": 1, "num_inference_steps": 2, "strength": 0.5})
    picture = Image.open(io.BytesIO(base64.b64decode(edited.data[0].b64_json)))
    assert picture.size == (64, 48) and edited.model_extra["seed"] == 1


def test_a_saved_voice_speaks_and_is_deleted(client, api):
    import openai

    voice = client.audio.voices.create(name="Ania", audio_sample=("ania.wav", wav_bytes(speech_clip(), 16000),
                                                                  "audio/wav"), consent="recorded with consent")
    assert voice.id.startswith("voice_") and voice.name == "Ania" and voice.object == "audio.voice"
    assert (api.voices / voice.id / "reference.wav").is_file()  # the app's voice library holds it
    spoken = client.audio.speech.create(model="tiny", voice={"id": voice.id}, input="Hello there.",
                                        response_format="wav", extra_body={"seed": 0})
    audio, rate = sf.read(io.BytesIO(spoken.content))
    headers = spoken.response.headers
    assert headers["x-mmhub-language"] == "en" and headers["x-mmhub-route"] == "pocket-tts" and rate == 24000
    assert audio.ndim == 1 and len(audio) > 0

    slow = client.audio.speech.create(model="tiny", voice=voice.id, input="Hello there.", response_format="pcm",
                                      speed=0.5, extra_body={"seed": 0})
    samples = np.frombuffer(slow.content, "<i2")
    assert abs(len(samples) - 2 * len(audio)) <= 2  # pcm is 24 kHz like this model: twice as long at half speed
    polish = client.audio.speech.create(model="tiny", voice=voice.id, input="Dzień dobry, jak się masz?",
                                        response_format="flac")
    assert polish.response.headers["x-mmhub-route"] == "mms-tts+knn-vc"  # detected as Polish: MMS-TTS + kNN-VC
    mp3 = client.audio.speech.create(model="tiny", voice=voice.id, input="Hello.", response_format="mp3",
                                     extra_body={"language": "en"})
    assert sf.info(io.BytesIO(mp3.content)).format == "MP3"
    with pytest.raises(openai.BadRequestError, match="language"):  # "Hello." reads as Italian to langdetect
        client.audio.speech.create(model="tiny", voice=voice.id, input="Hello.")
    opus = client.audio.speech.create(model="tiny", voice=voice.id, input="Hello there.", response_format="opus")
    assert sf.info(io.BytesIO(opus.content)).subtype == "OPUS"

    assert client.audio.voices.delete(voice.id).deleted
    with pytest.raises(openai.BadRequestError, match="voice"):
        client.audio.speech.create(model="tiny", voice=voice.id, input="Hello.")
    with pytest.raises(openai.NotFoundError):
        client.audio.voices.delete(voice.id)


def test_refusals_name_the_field(client):
    import openai

    cases = [
        (lambda: client.chat.completions.create(model="tiny-chat", messages=CHAT, presence_penalty=0.5), "presence"),
        (lambda: client.chat.completions.create(model="tiny-chat", messages=CHAT, extra_body={"bogus": 1}), "bogus"),
        (lambda: client.chat.completions.create(model="tiny-chat", messages=CHAT, temperature=3), "temperature"),
        (lambda: client.audio.speech.create(model="tiny", voice="alloy", input="Hi"), "voice"),
        (lambda: client.audio.speech.create(model="tiny", voice="alloy", input="Hi", response_format="aac"),
         "response_format"),
        (lambda: client.images.generate(model="tiny", prompt="x", response_format="url"), "response_format"),
        (lambda: client.images.generate(model="tiny", prompt="x", size="65x64"), "size"),
        (lambda: client.chat.completions.create(model="tiny-no-cloning", messages=CHAT, max_tokens=4), "model"),
        (lambda: client.chat.completions.create(model="/etc", messages=CHAT, max_tokens=4), "model"),
    ]
    for call, field in cases:
        with pytest.raises(openai.BadRequestError) as caught:
            call()
        error = caught.value.body
        assert field in (error.get("param") or "") or field in error["message"], error
        assert {"message", "type", "param", "code"} <= set(error)


def _mug_lora(api):
    """A tiny SD LoRA under the server's allowed folder, its B matrices moved (a trained LoRA's have)."""
    import json

    import torch
    from diffusers import StableDiffusionPipeline

    from finetune import sd_lora
    from pipelines import tiny

    folder = api.runs / "mug-lora"
    if folder.is_dir():
        return folder
    pipe = StableDiffusionPipeline.from_pretrained(tiny.build("text-to-image"))
    sd_lora.add_lora(pipe.unet, sd_lora.SDLoraArguments(output_dir="x", instance_dir="x", instance_prompt="x"))
    torch.manual_seed(0)
    for name, parameter in pipe.unet.named_parameters():
        if "lora_B" in name:  # peft starts B at zero (no change); a trained LoRA has moved it
            parameter.data.normal_(0.0, 0.5)
    folder.mkdir()
    sd_lora.save_lora(pipe.unet, folder)
    (folder / "mmhub_run.json").write_text(json.dumps({"task": "text-to-image", "base_model": "tiny"}))
    return folder


def test_a_lora_under_the_allowed_folder_changes_the_image_and_off_again(client, api):
    folder = _mug_lora(api)

    def image(**extra) -> np.ndarray:
        answer = client.images.generate(model="tiny", prompt="a sks mug", size="64x64",
                                        extra_body={"seed": 3, "num_inference_steps": 2, "guidance_scale": 7.5}
                                        | extra)
        return np.asarray(Image.open(io.BytesIO(base64.b64decode(answer.data[0].b64_json))), dtype=np.float32)

    base = image()
    assert np.abs(image(lora=str(folder)) - base).mean() > 0.5
    np.testing.assert_array_equal(image(), base)  # the next request without a LoRA draws as the base model


def test_the_tab_and_the_api_drawing_at_once_keep_their_own_loras(client, api):
    """The app's tab and the API share the cached pipeline: the tab's run with a LoRA and an API request without
    one, at once, each draw as they would alone (without the pipeline's lock the API's set_lora(None) turned the
    tab's LoRA off mid-run, and both walked one scheduler)."""
    from gradio_client import Client

    folder = str(_mug_lora(api))
    app = Client(api.url + "/", verbose=False)

    def tab_job(lora: str) -> Any:  # prompt, negative, steps, guidance, width, height, images, seed, model, lora
        return app.submit("a sks mug", "", 12, 7.5, 64, 64, 1, 5, "tiny", lora, 1.0, api_name="/text_to_image")

    def picture(job: Any) -> np.ndarray:
        gallery, _ = job.result(timeout=120)
        return np.asarray(Image.open(gallery[0]["image"]).convert("RGB"), dtype=np.float32)

    def tab(lora: str) -> np.ndarray:
        return picture(tab_job(lora))

    def api_image() -> np.ndarray:
        answer = client.images.generate(model="tiny", prompt="a red mug", size="64x64",
                                        extra_body={"seed": 3, "num_inference_steps": 8})
        return np.asarray(Image.open(io.BytesIO(base64.b64decode(answer.data[0].b64_json))), dtype=np.float32)

    alone_tab, alone_base, alone_api = tab(folder), tab(""), api_image()
    assert np.abs(alone_tab - alone_base).mean() > 1  # the LoRA shows
    np.testing.assert_array_equal(tab(folder), alone_tab)  # and the tab draws the same picture again
    for _ in range(3):
        drawing = tab_job(folder)
        while not drawing.done():  # API requests back to back for as long as the tab's 12 steps (~1.5 s) run
            np.testing.assert_array_equal(api_image(), alone_api)
        np.testing.assert_array_equal(picture(drawing), alone_tab)
