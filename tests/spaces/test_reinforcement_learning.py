"""The Reinforcement learning Space: in the Basics group, both languages; playing through gradio_client on the served
app (tiny agent, seeded); "train it now" streaming the untrained agent, the live curve and the trained agent."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from gradio_client.exceptions import AppError

from spaces.app import discover_spaces, space
from spaces.common import GROUPS, Context
from spaces.launcher import build_blocks, tab_layout


def test_the_tab_sits_in_the_basics_group_in_both_languages():
    groups = dict(entry for entry in tab_layout(discover_spaces()) if isinstance(entry, tuple))
    assert "reinforcement_learning" in [spec.name for spec in groups["basics"]]
    assert {GROUPS["basics"]["en"], GROUPS["basics"]["pl"]} == {"Basics", "Podstawy"}
    for lang, title in (("en", "Train it now"), ("pl", "Wytrenuj teraz")):
        demo = build_blocks([space("reinforcement-learning")], Context(lang=lang, models="tiny"))
        assert title in {getattr(block, "label", None) for block in demo.blocks.values()}
        assert {fn.api_name for fn in demo.fns.values()} >= {"rl_play", "rl_train"}


def test_play_through_the_api_is_seeded(client):
    video, table, curve, summary = client.predict("tiny", 3, 4, True, api_name="/rl_play")
    again = client.predict("tiny", 3, 4, True, api_name="/rl_play")
    rows = [tuple(row) for row in table["data"]]
    assert len(rows) == 3 and rows == [tuple(row) for row in again[1]["data"]]  # same seed, same episodes
    assert Path(video["video"] if isinstance(video, dict) else video).stat().st_size > 1000
    assert "seed 4" in summary and "CartPole-v1" in summary and "PPO" in summary
    points = curve["data"]  # (step, return so far, episode) for every step of every episode
    assert len(points) == sum(row[2] for row in rows)
    assert [max(p[1] for p in points if p[2] == f"episode {i}") for i in (1, 2, 3)] == [row[1] for row in rows]
    with pytest.raises(AppError, match="minimum"):  # the slider's own bound, checked by gradio
        client.predict("tiny", 0, 4, True, api_name="/rl_play")
    with pytest.raises(AppError, match="episodes"):
        client.predict("tiny", 2.5, 4, True, api_name="/rl_play")
    with pytest.raises(AppError, match="`seed`"):
        client.predict("tiny", 2, 2**70, True, api_name="/rl_play")


def test_train_it_now_streams_before_curve_and_after(tmp_path, monkeypatch):
    import spaces.reinforcement_learning as tab

    monkeypatch.setenv("MMHUB_CACHE", str(tmp_path))
    monkeypatch.setattr(tab, "MAX_FRAMES", 30)  # short videos: filming is most of the time here
    demo = build_blocks([space("reinforcement-learning")], Context(models="tiny"))
    train = next(fn.fn for fn in demo.fns.values() if fn.api_name == "rl_train")
    updates = list(train("ppo", "CartPole-v1", 512, 3))
    before_video, before_text = next((u[0], u[1]) for u in updates if isinstance(u[0], str))
    assert before_video.endswith("before.mp4") and "seed 3" in before_text
    curves = [u[2] for u in updates if isinstance(u[2], pd.DataFrame) and len(u[2])]
    assert curves and set(curves[-1].iloc[:, 2]) == {"episode return", "mean of the last 10"}
    metrics = json.loads((tmp_path / "tiny" / "rl-live" / "metrics.json").read_text())
    assert len(curves[-1]) == 2 * metrics["episodes"]  # every episode of the 8 environments is on the curve
    _, _, curve, status, after_video, after_text, model = updates[-1]
    assert status.startswith("✅") and "512" in status and str(tmp_path) in status
    assert after_video.endswith("after.mp4") and "seed 3" in after_text
    assert model["value"] == str(tmp_path / "tiny" / "rl-live")
    assert (tmp_path / "tiny" / "rl-live" / "ppo-CartPole-v1.zip").is_file()
    play = next(fn.fn for fn in demo.fns.values() if fn.api_name == "rl_play")
    *_, summary = list(play(model["value"], 1, 3, True))[-1]  # the trained agent, in "Watch an agent"
    assert "seed 3" in summary


@pytest.mark.parametrize(("arguments", "message"), [
    (("sac", "CartPole-v1", 512, 0), "algo"),
    (("ppo", "Pong-v5", 512, 0), "env"),
    (("ppo", "CartPole-v1", float("nan"), 0), "timesteps"),
    (("ppo", "CartPole-v1", 10**9, 0), "timesteps"),
    (("ppo", "CartPole-v1", 512, 2**40), "seed"),
])
def test_train_it_now_refuses_bad_settings(tmp_path, monkeypatch, arguments, message):
    monkeypatch.setenv("MMHUB_CACHE", str(tmp_path))
    demo = build_blocks([space("reinforcement-learning")], Context(models="tiny"))
    train = next(fn.fn for fn in demo.fns.values() if fn.api_name == "rl_train")
    with pytest.raises(Exception, match=message):
        list(train(*arguments))
    assert not (tmp_path / "tiny" / "rl-live").exists()


def test_stop_ends_the_training_early_and_keeps_the_agent(tmp_path, monkeypatch):
    """Stop cancels the streaming event: gradio closes the handler's generator, and the training ends at its next
    step with a finished folder (stopped_early)."""
    import time

    import spaces.reinforcement_learning as tab

    monkeypatch.setenv("MMHUB_CACHE", str(tmp_path))
    monkeypatch.setattr(tab, "MAX_FRAMES", 10)
    demo = build_blocks([space("reinforcement-learning")], Context(models="tiny"))
    train = next(fn.fn for fn in demo.fns.values() if fn.api_name == "rl_train")
    stream = train("dqn", "CartPole-v1", 300_000, 1)
    for update in stream:
        if isinstance(update[2], pd.DataFrame) and len(update[2]):  # the first episodes are on the curve
            break
    stream.close()  # what gradio does when Stop cancels the event
    metrics = tmp_path / "tiny" / "rl-live" / "metrics.json"
    deadline = time.monotonic() + 120
    while not metrics.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    saved = json.loads(metrics.read_text())
    assert saved["stopped_early"] and saved["timesteps"] < 300_000 and saved["algo"] == "DQN"


def test_train_it_now_replaces_a_trained_agent_only_when_asked(tmp_path, monkeypatch):
    """Outside tiny mode Train never replaces a trained agent unasked (issue 19 §4): with "Replace the trained model"
    unticked it is refused in words on the status line (Polish here) and the agent stays; ticked, it is replaced."""
    import shutil

    import gradio as gr

    import spaces.reinforcement_learning as tab
    from pipelines import tiny

    user = tmp_path / "models" / "reinforcement-learning"
    shutil.copytree(tiny.build("reinforcement-learning"), user)  # a trained agent of the user's (the tiny one)
    monkeypatch.setenv("MMHUB_CACHE", str(tmp_path))
    monkeypatch.setattr(tab, "MAX_FRAMES", 10)  # short videos: filming is most of the time here
    agent = (user / "ppo-CartPole-v1.zip").read_bytes()
    demo = build_blocks([space("reinforcement-learning")], Context(lang="pl"))
    box = next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "rl-replace")
    assert box.visible and box.label == f"Zastąp wytrenowany model w {user}" and box.value is False
    train = next(fn.fn for fn in demo.fns.values() if fn.api_name == "rl_train")
    with pytest.raises(Exception, match="A trained model is already in .*Replace the trained model"):
        list(train("ppo", "CartPole-v1", 256, 3))  # the API's default: replace=False
    page = next(fn.fn for fn in demo.fns.values() if getattr(fn.fn, "__name__", "") == "train_live_in_page")
    *_, line = list(page("ppo", "CartPole-v1", 256, 3, False, gr.Request(session_hash="rl-replace")))[-1]
    assert f"W {user} jest już wytrenowany model: zaznacz „Zastąp wytrenowany model”" in line
    assert (user / "ppo-CartPole-v1.zip").read_bytes() == agent and not (user / "metrics.json").exists()
    *_, status, _, _, model = list(train("ppo", "CartPole-v1", 256, 3, True))[-1]
    assert status.startswith("✅") and model["value"] == str(user)
    assert json.loads((user / "metrics.json").read_text())["timesteps"] >= 256
    assert (user / "ppo-CartPole-v1.zip").read_bytes() != agent
