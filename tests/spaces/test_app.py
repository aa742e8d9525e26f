"""The tabbed app, served for real (tiny models, offline): every named endpoint through gradio_client."""

from __future__ import annotations

import concurrent.futures
import time
from pathlib import Path

import numpy as np
import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError

LABELS = {"negative", "neutral", "positive"}
ENDPOINTS = {"/chat", "/sentiment", "/sentiment_batch", "/text_to_image", "/image_to_image", "/style_transfer",
             "/separate", "/clone_voice", "/convert_voice"}


def check_confidences(result: dict) -> None:
    assert result["label"] in LABELS
    confidences = {c["label"]: c["confidence"] for c in result["confidences"]}
    assert set(confidences) == LABELS
    assert sum(confidences.values()) == pytest.approx(1.0, abs=1e-4)
    assert result["label"] == max(confidences, key=confidences.get)


def test_every_space_has_its_named_endpoints(client):
    named = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert ENDPOINTS <= named


def test_sentiment_returns_a_label_with_three_confidences(client):
    check_confidences(client.predict("Świetny produkt, polecam!", "tiny", api_name="/sentiment"))


def test_bad_input_is_an_error_and_the_app_keeps_serving(client):
    with pytest.raises(AppError, match="non-empty text"):
        client.predict("   ", "tiny", api_name="/sentiment")
    with pytest.raises(AppError, match="tiny"):  # no such tiny variant: the pipeline's InputError, shown as is
        client.predict("fine", "tiny-nonexistent", api_name="/sentiment")
    check_confidences(client.predict("Great value for money.", "tiny", api_name="/sentiment"))


def test_model_that_cannot_load_offline_is_an_error_naming_it(client):
    with pytest.raises(AppError, match="no/such-model"):
        client.predict("Great.", "no/such-model", api_name="/sentiment")
    check_confidences(client.predict("Still here?", "tiny", api_name="/sentiment"))


def test_sentiment_batch_from_lines_or_a_csv_with_every_column_and_downloads(client, media):
    import pandas as pd

    table, chart, files = client.predict("Super!\n\nOkropne.\nMeh", None, "tiny", api_name="/sentiment_batch")
    assert table["headers"] == ["text", "label", "score", "negative", "neutral", "positive"]
    assert [row[0] for row in table["data"]] == ["Super!", "Okropne.", "Meh"]
    assert all(row[1] in LABELS and row[2] == max(row[3:6]) for row in table["data"])
    # a file is analysed alone (the pasted lines are a separate input) and keeps its own columns
    table, chart, files = client.predict("Super!\nOkropne.", handle_file(media["csv"]), "tiny",
                                         api_name="/sentiment_batch")
    assert table["headers"] == ["id", "review", "label", "score", "negative", "neutral", "positive"]
    assert [row[:2] for row in table["data"]] == [["1", "Świetny produkt, polecam!"], ["2", "Terrible quality."],
                                                  ["3", "OK"]]
    assert all(row[2] in LABELS and row[3] == max(row[4:7]) for row in table["data"])
    counts = dict(chart["data"])
    assert set(counts) == LABELS and sum(counts.values()) == 3
    by_suffix = {Path(f).suffix: f for f in files}
    assert set(by_suffix) == {".csv", ".xlsx"} and Path(by_suffix[".csv"]).name == "reviews-sentiment.csv"
    for frame in (pd.read_csv(by_suffix[".csv"]), pd.read_excel(by_suffix[".xlsx"])):
        assert list(frame.columns) == table["headers"] and list(frame["review"])[1] == "Terrible quality."
    with pytest.raises(AppError):
        client.predict("", None, "tiny", api_name="/sentiment_batch")


def test_fifty_concurrent_sentiment_requests_are_all_answered(client):
    texts = [f"Recenzja numer {i}: {'świetne' if i % 2 else 'słabe'}." for i in range(50)]
    start = time.monotonic()
    jobs = [client.submit(text, "tiny", api_name="/sentiment") for text in texts]
    results = [job.result(timeout=120) for job in jobs]
    elapsed = time.monotonic() - start
    assert len(results) == 50
    for result in results:
        check_confidences(result)
    assert elapsed < 120


def test_fifty_concurrent_requests_from_separate_clients(app_url):
    from gradio_client import Client

    def one(i: int) -> dict:
        return Client(app_url, verbose=False).predict(f"Opinia {i}", "tiny", api_name="/sentiment")

    with concurrent.futures.ThreadPoolExecutor(max_workers=10) as pool:
        results = list(pool.map(one, range(50), timeout=180))
    assert len(results) == 50 and all(r["label"] in LABELS for r in results)


def test_chat_streams_a_reply_with_a_system_prompt(client):
    job = client.submit("Cześć, jak się masz?", "tiny-chat", "Odpowiadaj krótko.", 12, 0.7, 0.95, 3,
                        api_name="/chat")
    reply, seed = job.result(timeout=120)
    assert isinstance(reply, str) and reply and seed == 3  # the reply, and the seed it used
    outputs = job.outputs()
    assert len(outputs) >= 2  # the "loading" line and/or the growing reply: it streamed
    assert all(isinstance(o[0], str) and o[1] == 3 for o in outputs)


def test_chat_with_a_plain_model_and_a_bad_setting(client):
    reply, seed = client.predict("Once upon a time", "tiny", "", 8, 0.0, 0.95, None, api_name="/chat")
    assert isinstance(reply, str) and 0 <= seed < 2**31  # no seed: a random one, reported
    with pytest.raises(AppError, match="max_new_tokens"):  # the tiny GPT-2 has 512 positions
        client.predict("Hello", "tiny", "", 1000, 0.7, 0.95, None, api_name="/chat")
    with pytest.raises(AppError, match="maximum"):  # checked by gradio against the slider's range
        client.predict("Hello", "tiny-chat", "", 4096, 0.7, 0.95, None, api_name="/chat")
    assert client.predict("Hello", "tiny-chat", "", 4, 0.7, 0.95, 1, api_name="/chat")[1] == 1


def _gallery_images(gallery: list) -> list:
    from PIL import Image

    return [Image.open(item["image"]) for item in gallery]


def test_text_to_image_gallery_and_seed(client):
    gallery, seed = client.predict("a lighthouse at dawn", "", 2, 7.5, 0, 0, 2, 7, "tiny",
                                   api_name="/text_to_image")
    images = _gallery_images(gallery)
    assert len(images) == 2 and seed == 7
    assert all(image.size == images[0].size and image.mode == "RGB" for image in images)
    again, _ = client.predict("a lighthouse at dawn", "", 2, 7.5, 0, 0, 2, 7, "tiny", api_name="/text_to_image")
    assert np.array_equal(np.asarray(_gallery_images(again)[0]), np.asarray(images[0]))  # same seed, same image
    with pytest.raises(AppError, match="width"):
        client.predict("x", "", 2, 7.5, 1000, 0, 1, 1, "tiny", api_name="/text_to_image")


def test_image_to_image(client, media):
    gallery, seed = client.predict("watercolor", handle_file(media["image"]), 0.5, "", 2, 7.5, 1, 5, "tiny",
                                   api_name="/image_to_image")
    assert len(_gallery_images(gallery)) == 1 and seed == 5


def test_style_transfer_returns_the_image_and_losses(client, media):
    from PIL import Image

    image, losses = client.predict(handle_file(media["image"]), handle_file(media["image"]), 6, 64, False, 0,
                                   "tiny", api_name="/style_transfer")
    assert Image.open(image).size == (64, 48)
    assert [row[0] for row in losses["data"]] == list(range(1, len(losses["data"]) + 1))
    assert 1 <= len(losses["data"]) <= 6
    with pytest.raises(AppError, match="style"):
        client.predict(handle_file(media["image"]), None, 6, 64, False, 0, "tiny", api_name="/style_transfer")


def test_separation_gives_a_player_and_a_file_per_stem(client, media):
    import soundfile as sf

    *players, files = client.predict(handle_file(media["music"]), "", 0, 0, "tiny", api_name="/separate")
    visible = [p for p in players if p.get("visible")]
    assert len(files) == len(visible) >= 2
    assert [Path(p["value"]).stem for p in visible] == [p["label"] for p in visible]
    for path in files:
        audio, rate = sf.read(path)
        assert audio.ndim == 2 and audio.shape[1] == 2 and abs(len(audio) / rate - 4.0) < 0.05
    *players, files = client.predict(handle_file(media["music"]), "vocals", 0, 0, "tiny", api_name="/separate")
    assert sorted(Path(f).stem for f in files) == ["no_vocals", "vocals"]


def test_voice_cloning_and_conversion_return_audio(client, media):
    import soundfile as sf

    path = client.predict("Dzień dobry, to jest test.", handle_file(media["speech"]), "pl", 0, "tiny",
                          api_name="/clone_voice")
    audio, rate = sf.read(path)
    assert audio.ndim == 1 and len(audio) > 0 and rate > 0
    path = client.predict(handle_file(media["speech"]), handle_file(media["speech"]), "tiny",
                          api_name="/convert_voice")
    audio, rate = sf.read(path)
    assert audio.ndim == 1 and len(audio) > 0
    with pytest.raises(AppError, match="reference"):
        client.predict("Hello", None, "en", 0, "tiny", api_name="/clone_voice")
