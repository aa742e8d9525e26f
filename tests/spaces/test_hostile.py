"""Hostile requests to the served app (tiny models, offline): each gets its specific message, never gradio's generic
"Error", and a good request to the same tab works right after."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

LABELS = {"negative", "neutral", "positive"}


def _image_count(gallery_and_seed: Any) -> int:
    gallery, _ = gallery_and_seed
    return len(gallery)


# Per endpoint: a good request (args from the media fixture) and what its answer must satisfy.
GOOD: dict[str, tuple[Callable[[dict], tuple], Callable[[Any], bool]]] = {
    "/sentiment": (lambda m: ("Great value.", "tiny"), lambda r: r["label"] in LABELS),
    "/sentiment_batch": (lambda m: ("Fine\nBad", None, "tiny"), lambda r: len(r[0]["data"]) == 2),
    "/chat": (lambda m: ("Hi", "tiny-chat", "", 4, 0.7, 0.95, 1), lambda r: isinstance(r[0], str) and r[1] == 1),
    "/text_to_image": (lambda m: ("x", "", 1, 0.0, 0, 0, 1, 1, "tiny"), lambda r: _image_count(r) == 1),
    "/image_to_image": (lambda m: ("x", handle_file(m["image"]), 1.0, "", 1, 0.0, 1, 1, "tiny"),
                        lambda r: _image_count(r) == 1),
    "/style_transfer": (lambda m: (handle_file(m["image"]), handle_file(m["image"]), 1, 64, False, 0, "tiny"),
                        lambda r: Path(r[0]).is_file()),
    "/separate": (lambda m: (handle_file(m["short"]), "vocals", 0, 0, "tiny"), lambda r: len(r[-1]) == 2),
}

# (id, endpoint, hostile args from (media, local_models), the message expected at the client)
HOSTILE: list[tuple[str, str, Callable[[dict, dict], tuple], str]] = [
    ("sentiment-none-text", "/sentiment", lambda m, d: (None, "tiny"), r"`text` must be non-empty text"),
    ("model-dotdot-path", "/sentiment", lambda m, d: ("Fine.", "../../../../etc"),
     r"not inside a folder this server allows.*--allow-local-models"),
    ("model-absolute-path", "/sentiment", lambda m, d: ("Fine.", "/usr/lib"),
     r"not inside a folder this server allows"),
    ("model-symlink-escape", "/sentiment", lambda m, d: ("Fine.", str(d["escape"])),
     r"not inside a folder this server allows for local models \(symlinks"),
    ("model-wrong-task", "/sentiment", lambda m, d: ("Fine.", str(d["text_generation"])),
     r"wrong task.*not a sentiment model"),
    ("model-not-text", "/sentiment", lambda m, d: ("Fine.", ["tiny"]), r"`model` must be non-empty text"),
    ("model-bad-id", "/sentiment", lambda m, d: ("Fine.", "no such model!"), r"is not a model id"),
    ("model-unknown-hub-id", "/text_to_image", lambda m, d: ("x", "", 1, 0.0, 0, 0, 1, 1, "nobody/no-such-model"),
     r"Cannot load model 'nobody/no-such-model' \((offline|not found)\)"),
    ("batch-empty-csv", "/sentiment_batch", lambda m, d: ("", handle_file(m["empty_csv"]), "tiny"),
     r"empty\.csv is empty"),
    ("batch-binary-csv", "/sentiment_batch", lambda m, d: ("", handle_file(m["binary_csv"]), "tiny"),
     r"binary\.csv is not a text file"),
    ("batch-no-text-column", "/sentiment_batch", lambda m, d: ("", handle_file(m["numbers_csv"]), "tiny"),
     r"numbers\.csv has no text column"),
    ("batch-image-as-csv", "/sentiment_batch", lambda m, d: ("", handle_file(m["png_for_csv"]), "tiny"),
     r"Invalid file type"),
    ("batch-nothing", "/sentiment_batch", lambda m, d: ("", None, "tiny"), r"Paste some lines or upload"),
    ("chat-none-message", "/chat", lambda m, d: (None, "tiny-chat", "", 4, 0.7, 0.95, 1),
     r"`message` must be non-empty text"),
    ("chat-reply-beyond-context", "/chat", lambda m, d: ("Hi", "tiny-chat", "", 300, 0.7, 0.95, 1),
     r"`max_new_tokens` must be an integer from 1 to 128 for tiny-chat.*context of 256"),
    ("chat-text-temperature", "/chat", lambda m, d: ("Hi", "tiny-chat", "", 4, "hot", 0.95, 1),
     r"Invalid value for 'Temperature \(0 = greedy\)': got 'hot'; expected a number"),
    ("chat-text-seed", "/chat", lambda m, d: ("Hi", "tiny-chat", "", 4, 0.7, 0.95, "abc"),
     r"`seed` must be an integer from 0 to \d+; got 'abc'\. -1 draws a random seed"),
    ("t2i-text-steps", "/text_to_image", lambda m, d: ("x", "", "many", 0.0, 0, 0, 1, 1, "tiny"),
     r"Invalid value for 'Steps': got 'many'"),
    ("t2i-fractional-images", "/text_to_image", lambda m, d: ("x", "", 1, 0.0, 0, 0, 1.5, 1, "tiny"),
     r"`num_images` must be an integer from 1 to 4; got 1\.5"),
    ("i2i-no-image", "/image_to_image", lambda m, d: ("x", None, 1.0, "", 1, 0.0, 1, 1, "tiny"),
     r"`image` must be an image \(upload one\); got None"),
    ("i2i-corrupt-png", "/image_to_image", lambda m, d: ("x", handle_file(m["corrupt_png"]), 1.0, "", 1, 0.0, 1, 1,
                                                         "tiny"), r"`image` must be an image.*cannot be read"),
    ("style-text-as-jpg", "/style_transfer", lambda m, d: (handle_file(m["image"]), handle_file(m["text_jpg"]), 1,
                                                           64, False, 0, "tiny"), r"`style` must be an image"),
    ("style-no-content", "/style_transfer", lambda m, d: (None, handle_file(m["image"]), 1, 64, False, 0, "tiny"),
     r"`content` must be an image \(upload one\)"),
    ("separate-corrupt-wav", "/separate", lambda m, d: (handle_file(m["corrupt_wav"]), "", 0, 0, "tiny"),
     r"`audio` must be an audio file soundfile can decode"),
    ("separate-silent", "/separate", lambda m, d: (handle_file(m["silent_wav"]), "", 0, 0, "tiny"),
     r"`audio` must be audio that is not silent"),
    ("separate-no-audio", "/separate", lambda m, d: (None, "", 0, 0, "tiny"), r"`audio` must be an audio file"),
    ("separate-bad-stem", "/separate", lambda m, d: (handle_file(m["short"]), "kazoo", 0, 0, "tiny"),
     r"kazoo.*not in the list of choices"),
]


@pytest.mark.parametrize(("endpoint", "hostile", "expected"), [row[1:] for row in HOSTILE],
                         ids=[row[0] for row in HOSTILE])
def test_hostile_request_gets_its_message_and_the_tab_keeps_working(client, media, local_models, endpoint, hostile,
                                                                    expected):
    with pytest.raises(AppError) as caught:
        client.predict(*hostile(media, local_models), api_name=endpoint)
    message = str(caught.value)
    assert message.strip() not in ("", "Error", "None"), "gradio's generic error reached the client"
    assert "has not enabled verbose error reporting" not in message, "gradio's generic error reached the client"
    assert "Unexpected error" not in message, message
    assert re.search(expected, message), message
    args, ok = GOOD[endpoint]
    assert ok(client.predict(*args(media), api_name=endpoint))


def test_local_models_load_only_from_allowed_folders(client, local_models):
    inside = local_models["sentiment"]
    through_dotdot = f"{inside}/../{inside.name}"  # '..' that stays inside an allowed folder is fine
    for model in (str(inside), through_dotdot):
        assert client.predict("Great.", model, api_name="/sentiment")["label"] in LABELS
    with pytest.raises(AppError, match="not inside a folder this server allows"):
        client.predict("Great.", str(local_models["outside"]), api_name="/sentiment")


def test_one_column_csv_is_read_as_a_column(client, media):
    table, chart, _ = client.predict("", handle_file(media["one_column_csv"]), "tiny", api_name="/sentiment_batch")
    assert [row[0] for row in table["data"]] == ["Great!"]  # not "Grea" (a 't' taken for the delimiter)


async def _run_and_collect_logs(job) -> list[tuple[str, str]]:
    logs = []
    async for update in job:
        log = getattr(update, "log", None)
        if log:
            logs.append(log)
    return logs


def test_long_chat_drops_the_oldest_turns_and_says_so(app_url):
    """tiny-chat has a context of 256 tokens (about a byte each): a few long turns no longer fit."""
    chat = Client(app_url, verbose=False)  # a session of its own: the conversation is the session's state
    turn = "Opowiedz mi proszę coś ciekawego o rzece Wiśle i o jej dopływach. " * 2
    for i in range(3):
        reply, _ = chat.predict(f"{i}: {turn}", "tiny-chat", "Odpowiadaj krótko.", 16, 0.7, 0.95, i,
                                api_name="/chat")
        assert isinstance(reply, str) and reply
    job = chat.submit("Last question?", "tiny-chat", "Odpowiadaj krótko.", 16, 0.7, 0.95, 5, api_name="/chat")
    logs = asyncio.run(_run_and_collect_logs(job))
    assert isinstance(job.result(timeout=60)[0], str)
    assert any("oldest messages were left out" in message and level == "warning" for message, level in logs), logs
