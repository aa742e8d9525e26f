"""``huggingface_hub.InferenceClient(model="http://HOST:PORT/models/<task>")`` against ``python -m spaces``, unchanged,
for each task (and the HF payload itself where the 2.4 client refuses a URL model: text-to-video)."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from .conftest import digit_png, png_bytes, speech_clip, wav_bytes


@pytest.fixture(autouse=True, scope="module")
def local_requests_allowed():
    """The suite runs with HF_HUB_OFFLINE=1, under which huggingface_hub's session refuses every request, this
    server's too (``utils/_http.py``: ``hf_request_event_hook``). The client talks only to the local server here."""
    import huggingface_hub.constants

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
        yield


def test_text_classification_is_the_sentiment_pipeline(api):
    from pipelines import load

    labels = api.hf("text-classification").text_classification("Świetny produkt!")
    expected = load("sentiment", model="tiny")("Świetny produkt!")
    assert {e.label for e in labels} == {"positive", "neutral", "negative"}
    assert [e.score for e in labels] == sorted((e.score for e in labels), reverse=True)
    assert {e.label: e.score for e in labels} == pytest.approx(expected.scores, abs=1e-5)
    assert len(api.hf("sentiment/tiny").text_classification("Great", top_k=1)) == 1  # /models/<task>/<model id>


def test_text_generation_plain_details_and_stream(api):
    from pipelines import load

    client = api.hf("text-generation")
    expected = load("text-generation", model="tiny")("Once upon", max_new_tokens=6, temperature=0)
    assert client.text_generation("Once upon", max_new_tokens=6) == expected.text  # greedy unless sampling is asked
    detailed = client.text_generation("Once upon", max_new_tokens=6, details=True, top_n_tokens=2)
    assert detailed.generated_text == expected.text and detailed.details.generated_tokens == expected.new_tokens
    assert "".join(t.text for t in detailed.details.tokens) == expected.text
    assert detailed.details.finish_reason == "length"
    assert list(client.text_generation("Once upon", max_new_tokens=6, stream=True)) == [
        t.text for t in detailed.details.tokens]
    assert client.text_generation("Once upon", max_new_tokens=6, return_full_text=True) == "Once upon" + expected.text


def test_chat_completion(api):
    reply = api.hf("text-generation").chat_completion([{"role": "user", "content": "Hi"}], max_tokens=5, seed=1)
    assert reply.choices[0].message.role == "assistant" and reply.usage.completion_tokens <= 5
    client = api.hf("text-generation/tiny-chat")  # held: the stream lives as long as its client
    streamed = client.chat_completion([{"role": "user", "content": "Hi"}], max_tokens=5, temperature=0, stream=True)
    plain = client.chat_completion([{"role": "user", "content": "Hi"}], max_tokens=5, temperature=0)
    assert "".join(c.choices[0].delta.content or "" for c in streamed if c.choices) == plain.choices[0].message.content


def test_text_to_image_and_image_to_image(api):
    picture = api.hf("text-to-image").text_to_image("a fox", width=64, height=64, num_inference_steps=2, seed=0)
    again = api.hf("text-to-image").text_to_image("a fox", width=64, height=64, num_inference_steps=2, seed=0)
    assert picture.size == (64, 64) and np.array_equal(np.asarray(picture), np.asarray(again))
    redrawn = api.hf("image-to-image").image_to_image(png_bytes((64, 48)), prompt="a cat", num_inference_steps=2)
    assert redrawn.size == (64, 48)


def test_text_to_speech_in_a_saved_voice(api):
    voice = api.openai().audio.voices.create(name="hf", audio_sample=("v.wav", wav_bytes(speech_clip(), 16000)),
                                             consent="a test clip")
    try:
        audio = api.hf("text-to-speech").text_to_speech("Good morning to you.", extra_body={"voice": voice.id})
        samples, rate = sf.read(io.BytesIO(audio))
        assert rate == 24000 and len(samples) > 0
        with pytest.raises(Exception, match="voice"):
            api.hf("text-to-speech").text_to_speech("Good morning to you.")
    finally:
        api.openai().audio.voices.delete(voice.id)


def test_audio_to_audio_returns_the_stems(api):
    t = np.arange(44100) / 44100
    music = 0.3 * np.stack([np.sin(2 * np.pi * 220 * t), np.sin(2 * np.pi * 330 * t)], axis=1)
    stems = api.hf("audio-to-audio").audio_to_audio(wav_bytes(music.astype(np.float32), 44100))
    assert {s.label for s in stems} == {"drums", "bass", "other", "vocals"}
    for stem in stems:
        audio, rate = sf.read(io.BytesIO(stem.blob))
        assert stem.content_type == "audio/flac" and rate == 44100 and audio.shape == (44100, 2)


def test_image_classification_is_digit_recognition(api):
    from pipelines import load

    scores = api.hf("image-classification").image_classification(digit_png())
    expected = load("digit-recognition", model="tiny")(Image.open(io.BytesIO(digit_png())))
    assert len(scores) == 10 and {s.label for s in scores} == {str(d) for d in range(10)}
    assert scores[0].label == str(expected.label)
    assert len(api.hf("digits").image_classification(digit_png(), top_k=3)) == 3


def test_text_to_video_with_the_hf_payload(api):
    import httpx
    from huggingface_hub.inference._providers.hf_inference import HFInferenceTask

    with pytest.raises(ValueError, match="text-to-video"):  # huggingface_hub 2.4 refuses a URL model client-side
        api.hf("text-to-video").text_to_video("a fox")
    request = HFInferenceTask("text-to-video").prepare_request(  # the payload its hf-inference helper builds
        inputs="a fox", parameters={"num_inference_steps": 2, "seed": 0, "num_frames": 5}, headers=api.headers,
        model=f"{api.url}/models/text-to-video", api_key=api.key)
    answer = httpx.post(request.url, json=request.json, headers=request.headers, timeout=120)
    assert answer.status_code == 200 and answer.headers["content-type"] == "video/mp4"
    assert answer.content[4:8] == b"ftyp"  # an MP4


def test_nearest_tasks_music_autoencoder_gan(api):
    import httpx

    music = api.hf("text-to-music").text_to_speech("calm piano", extra_body={"duration": 0.5, "seed": 0})
    audio, rate = sf.read(io.BytesIO(music))
    assert rate > 0 and len(audio) > 0
    for task, kwargs in (("autoencoder", {"content": png_bytes((32, 32))}),
                         ("gan", {"json": {"parameters": {"seed": 0}}})):
        answer = httpx.post(f"{api.url}/models/{task}", headers=api.headers, timeout=60, **kwargs)
        assert answer.status_code == 200 and answer.headers["content-type"] == "image/png"
        Image.open(io.BytesIO(answer.content)).verify()


def test_unknown_parameters_and_tasks_are_named(api):
    import httpx

    bad = httpx.post(f"{api.url}/models/text-classification", headers=api.headers,
                     json={"inputs": "x", "parameters": {"bogus": 1}})
    assert bad.status_code == 400 and bad.json()["param"] == "parameters.bogus" and "bogus" in bad.json()["error"]
    missing = httpx.post(f"{api.url}/models/no-such-task", headers=api.headers, json={"inputs": "x"})
    assert missing.status_code == 404 and "no-such-task" in missing.json()["error"]
