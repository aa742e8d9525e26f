"""Reinforcement learning: the tiny SB3 twins in the Hub layout, played seeded and filmed through `load()`, with the
same returns as SB3's own `evaluate_policy`, cards in huggingface_sb3's exact format, safe loading (nothing is
unpickled unless trusted), and a table of bad inputs and bad agents."""

from __future__ import annotations

import base64
import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from pipelines import InputError, ModelLoadError, load, sb3_hub, tiny

TASK = "reinforcement-learning"


@pytest.fixture(scope="module")
def agent():
    return load(TASK, model="tiny")


@pytest.fixture()
def twin_copy(tmp_path: Path) -> Path:
    """A copy of the tiny PPO twin's folder, to spoil."""
    folder = tmp_path / "ppo-CartPole-v1"
    shutil.copytree(tiny.build(TASK), folder, ignore=shutil.ignore_patterns(".complete", "replay.mp4"))
    return folder


def test_the_tiny_twin_is_in_the_hub_layout_and_plays_filmed(agent, tmp_path):
    import imageio.v2 as imageio

    folder = Path(agent.model_id)
    assert {p.name for p in folder.iterdir()} >= {"ppo-CartPole-v1.zip", "README.md", "config.json", "results.json",
                                                  "replay.mp4"}
    config = json.loads((folder / "config.json").read_text())
    assert config["n_steps"] == 2048 and "system_info" in config  # the zip's data + system_info, as upstream
    assert agent.algo == "PPO" and agent.env_id == "CartPole-v1" and agent.is_tiny
    from stable_baselines3 import PPO  # the zip is SB3's own: what the course's PPO.load(load_from_hub(...)) reads

    plain = PPO.load(folder / "ppo-CartPole-v1.zip", device="cpu")
    observations = np.random.default_rng(0).normal(size=(16, 4)).astype(np.float32)
    assert np.array_equal(plain.predict(observations, deterministic=True)[0],
                          agent.agent.predict(observations, deterministic=True)[0])

    run = agent(episodes=2, seed=0)
    assert len(run.returns) == 2 and run.returns == [float(sum(r)) for r in run.rewards]
    assert run.lengths == [len(r) for r in run.rewards] and all(r == 1.0 for r in run.rewards[0])  # CartPole: +1
    assert run.frames.dtype == np.uint8 and run.frames.shape == (run.lengths[0] + 1, 400, 600, 3)  # reset + steps
    assert run.fps == 50 and run.filmed_episodes == 1 and not run.interrupted and run.seed == 0
    assert run.curve()[-1] == (2, run.lengths[1], 1.0, run.returns[1])
    saved = run.save(tmp_path / "run.mp4")
    video = imageio.mimread(saved, memtest=False)
    assert len(video) == len(run.frames) and video[0].shape == (400, 600, 3)
    assert json.loads(run.to_json())["frames"] == {"array": {"shape": list(run.frames.shape), "dtype": "uint8"}}


def test_the_same_seed_gives_the_same_returns_and_frames(agent):
    first, again = agent(episodes=3, seed=7), agent(episodes=3, seed=7)
    assert first.returns == again.returns and np.array_equal(first.frames, again.frames)
    sampled = [agent(episodes=3, seed=7, deterministic=False, record=0).returns for _ in range(2)]
    assert sampled[0] == sampled[1]
    dqn = load(TASK, model="tiny-dqn")  # DQN's epsilon-greedy draws are seeded too
    assert dqn.algo == "DQN"
    runs = [dqn(episodes=3, seed=3, deterministic=False, record=0).returns for _ in range(2)]
    assert runs[0] == runs[1]
    assert agent(episodes=5, seed=8, record=0).returns != agent(episodes=5, seed=9, record=0).returns


def test_returns_are_sb3_evaluate_policys_and_the_cards(agent):
    """The twin's results.json came from SB3's evaluate_policy (seeded DummyVecEnv); playing the same seed through
    load() gives the very same ten returns, so the card's mean +/- std is reproducible."""
    import gymnasium as gym
    from stable_baselines3.common.evaluation import evaluate_policy
    from stable_baselines3.common.monitor import Monitor
    from stable_baselines3.common.vec_env import DummyVecEnv

    env = DummyVecEnv([lambda: Monitor(gym.make("CartPole-v1"))])
    env.seed(0)
    theirs, _ = evaluate_policy(agent.agent, env, n_eval_episodes=10, deterministic=True, return_episode_rewards=True)
    ours = agent(episodes=10, seed=0, record=0)
    assert ours.returns == [float(r) for r in theirs]
    results = json.loads((Path(agent.model_id) / "results.json").read_text())
    assert results["mean_reward"] == pytest.approx(ours.mean_return) and results["n_eval_episodes"] == 10
    assert results["std_reward"] == pytest.approx(ours.std_return) and results["is_deterministic"] is True
    card = sb3_hub.read_card(Path(agent.model_id) / "README.md")
    assert card.mean_reward == f"{ours.mean_return:.2f} +/- {ours.std_return:.2f}"


# huggingface_sb3 3.0's own output for ("PPO", "CartPole-v1", 500.0, 0.0): _generate_model_card + _save_model_card
# (run from its PyPI wheel against huggingface_hub 2.4), less the "TODO: Add your code" usage stub mmhub replaces.
UPSTREAM_CARD = """---
library_name: stable-baselines3
tags:
- CartPole-v1
- deep-reinforcement-learning
- reinforcement-learning
- stable-baselines3
model-index:
- name: PPO
  results:
  - task:
      type: reinforcement-learning
      name: reinforcement-learning
    dataset:
      name: CartPole-v1
      type: CartPole-v1
    metrics:
    - type: mean_reward
      value: 500.00 +/- 0.00
      name: mean_reward
      verified: false
---

# **PPO** Agent playing **CartPole-v1**
This is a trained model of a **PPO** agent playing **CartPole-v1**
using the [stable-baselines3 library](https://github.com/DLR-RM/stable-baselines3).
"""


def test_the_card_is_huggingface_sb3s_word_for_word(tmp_path):
    card = sb3_hub.card_header("PPO", "CartPole-v1")
    path = sb3_hub.save_model_card(tmp_path, card, sb3_hub.generate_metadata("PPO", "CartPole-v1", 500.0, 0.0))
    assert path.read_text() == UPSTREAM_CARD
    assert sb3_hub.read_card(path) == sb3_hub.CardInfo("PPO", "CartPole-v1", "500.00 +/- 0.00", "stable-baselines3")
    assert sb3_hub.model_name("dqn", "ALE/SpaceInvaders-v5") == "dqn-ALE-SpaceInvaders-v5"  # EnvironmentName


def test_the_environment_comes_from_the_card(tmp_path):
    """An agent in the RL Zoo's layout (the sb3/ organisation: card, config.yml, env_kwargs.yml, no config.json):
    the card's env_id, Acrobot-v1, is the environment it plays, with its 500x500 frames and 15 fps."""
    from stable_baselines3 import PPO

    folder = tmp_path / "ppo-Acrobot-v1"
    folder.mkdir()
    untrained = PPO("MlpPolicy", "Acrobot-v1", seed=0, device="cpu", policy_kwargs={"net_arch": [8]})
    untrained.save(folder / "ppo-Acrobot-v1")
    card = UPSTREAM_CARD.replace("CartPole-v1", "Acrobot-v1").replace("500.00 +/- 0.00", "-82.00 +/- 13.00")
    (folder / "README.md").write_text(card)
    (folder / "env_kwargs.yml").write_text("{}\n")
    (folder / "config.yml").write_text("!!python/object/apply:collections.OrderedDict\n- - - n_envs\n    - 16\n"
                                       "  - - normalize\n    - false\n")
    acrobot = load(TASK, model=str(folder))
    assert acrobot.env_id == "Acrobot-v1" and acrobot.algo == "PPO"
    run = acrobot(episodes=1, seed=0, max_frames=5)
    assert run.env == "Acrobot-v1" and run.fps == 15 and run.frames.shape == (5, 500, 500, 3) and run.video_truncated
    # Zoo agents behind wrappers would see other observations on the bare environment: refused
    (folder / "config.yml").write_text("- - env_wrapper\n  - gymnasium.wrappers.TimeAwareObservation\n")
    with pytest.raises(ModelLoadError, match="env_wrapper") as info:
        load(TASK, model=str(folder))
    assert info.value.reason == "incompatible"


def test_the_hub_id_offline_is_an_offline_error():
    with pytest.raises(ModelLoadError) as info:
        load(TASK, model="sb3/ppo-CartPole-v1")
    assert info.value.reason == "offline" and "cannot be reached" in str(info.value)


@pytest.mark.parametrize(("kwargs", "argument"), [
    ({"episodes": 0}, "episodes"),
    ({"episodes": float("nan")}, "episodes"),
    ({"episodes": 10**6}, "episodes"),
    ({"episodes": True}, "episodes"),
    ({"episodes": "3"}, "episodes"),
    ({"seed": -1}, "seed"),
    ({"seed": 2**64}, "seed"),
    ({"seed": 1.5}, "seed"),
    ({"record": -1}, "record"),
    ({"max_frames": 0}, "max_frames"),
    ({"max_frames": 10**9}, "max_frames"),
    ({"deterministic": "no"}, "deterministic"),
    ({"progress": 3}, "progress"),
    ({"env": "Nope-v0"}, "env"),
    ({"env": "CartPol-v1"}, "env"),
    ({"env": "LunarLander-v2"}, "env"),  # Gymnasium 1.x dropped it: the hint says v3
    ({"env": "Acrobot-v1"}, "env"),  # other observation space
    ({"env": ""}, "env"),
    ({"env": 42}, "env"),
    ({"env": "\ud800"}, "env"),
    ({"episodes": 1, "epizodes": 2}, "epizodes"),
])
def test_bad_inputs_are_input_errors_and_the_agent_keeps_playing(agent, kwargs, argument):
    with pytest.raises(InputError) as info:
        agent(**kwargs)
    assert info.value.argument == argument
    assert agent(episodes=1, seed=0, record=0).returns  # still serving


def test_hints_name_the_fix(agent):
    with pytest.raises(InputError, match="LunarLander-v3"):
        agent(env="LunarLander-v2")
    with pytest.raises(InputError, match="Did you mean 'CartPole-v1'|Did you mean: `CartPole`"):
        agent(env="CartPol-v1")
    with pytest.raises(InputError, match=r"Box\(4,\) float32.*Acrobot-v1 has Box\(6,\)"):
        agent(env="Acrobot-v1")


def test_progress_reports_episodes_and_stops(agent):
    seen = []
    run = agent(episodes=5, seed=0, record=0, progress=lambda step, total, info: seen.append((step, total, info)))
    assert [s[:2] for s in seen] == [(i, 5) for i in range(1, 6)] and seen[0][2]["return"] == run.returns[0]
    stopped = agent(episodes=5, seed=0, record=0, progress=lambda step, total, info: step < 2)
    assert stopped.interrupted and stopped.returns == run.returns[:2]


def _replace_serialized(agent_zip: Path, payload: str) -> None:
    """Put `payload` (base64 pickle) into every pickled attribute of an SB3 zip's data."""
    with zipfile.ZipFile(agent_zip) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    data = json.loads(files["data"])
    for item in data.values():
        if isinstance(item, dict) and ":serialized:" in item:
            item[":serialized:"] = payload
    files["data"] = json.dumps(data).encode()
    with zipfile.ZipFile(agent_zip, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)


class _Touch:
    """Unpickling this creates a file: the proof that something was unpickled."""

    def __init__(self, path: Path):
        self.path = path

    def __reduce__(self):
        return (Path.touch, (self.path,))


def test_loading_unpickles_nothing(twin_copy, tmp_path):
    """Every pickled attribute of the agent's zip replaced by a pickle that would create a file when loaded: the
    agent still loads and plays (rebuilt from readable fields), and the file never appears."""
    import pickle

    marker = tmp_path / "unpickled"
    _replace_serialized(twin_copy / "ppo-CartPole-v1.zip", base64.b64encode(pickle.dumps(_Touch(marker))).decode())
    agent = load(TASK, model=str(twin_copy))
    assert agent(episodes=2, seed=0, record=0).returns and not marker.exists()


def test_what_cannot_be_rebuilt_needs_trust_remote_code(twin_copy):
    agent_zip = twin_copy / "ppo-CartPole-v1.zip"
    with zipfile.ZipFile(agent_zip) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    data = json.loads(files["data"])
    data["policy_class"]["__init__"] = "<function MyOwnPolicy.__init__ at 0x0>"  # a custom policy class
    files["data"] = json.dumps(data).encode()
    with zipfile.ZipFile(agent_zip, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    with pytest.raises(ModelLoadError, match="trust_remote_code=True") as info:
        load(TASK, model=str(twin_copy))
    assert info.value.reason == "incompatible" and "policy_class" in str(info.value)
    trusted = load(TASK, model=str(twin_copy), trust_remote_code=True)  # SB3 unpickles its (real) policy class
    assert trusted(episodes=1, seed=0, record=0).returns


def test_normalised_observations_load_only_when_trusted_and_match_sb3(twin_copy):
    """The RL Zoo's vec_normalize.pkl (a pickle): refused by default; trusted, the agent sees normalised observations
    exactly as SB3's evaluate_policy on the VecNormalize environment does."""
    import gymnasium as gym
    from stable_baselines3.common.evaluation import evaluate_policy
    from stable_baselines3.common.monitor import Monitor
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    stats = VecNormalize(DummyVecEnv([lambda: gym.make("CartPole-v1")]), norm_reward=False)
    stats.reset()
    for _ in range(50):  # some running statistics
        stats.step(np.array([stats.action_space.sample()]))
    stats.save(str(twin_copy / "vec_normalize.pkl"))
    with pytest.raises(ModelLoadError, match="vec_normalize.pkl.*trust_remote_code=True"):
        load(TASK, model=str(twin_copy))
    agent = load(TASK, model=str(twin_copy), trust_remote_code=True)
    ours = agent(episodes=5, seed=0, record=0).returns
    env = VecNormalize.load(str(twin_copy / "vec_normalize.pkl"), DummyVecEnv([lambda: Monitor(gym.make(
        "CartPole-v1"))]))
    env.training, env.norm_reward = False, False
    env.seed(0)
    theirs, _ = evaluate_policy(agent.agent, env, n_eval_episodes=5, deterministic=True, return_episode_rewards=True)
    assert ours == [float(r) for r in theirs]


def _spoil(folder: Path, how: str) -> dict:
    options = {}
    agent_zip = folder / "ppo-CartPole-v1.zip"
    if how == "corrupt zip":
        agent_zip.write_bytes(b"PK\x03\x04" + bytes(range(256)) * 4)
    elif how == "empty zip":
        agent_zip.write_bytes(b"")
    elif how == "zip of something else":
        with zipfile.ZipFile(agent_zip, "w") as archive:
            archive.writestr("hello.txt", "not an agent")
    elif how == "no zip":
        agent_zip.unlink()
    elif how == "card names SAC":
        card = folder / "README.md"
        card.write_text(card.read_text().replace("- name: PPO", "- name: SAC"))
        agent_zip.rename(folder / "sac-CartPole-v1.zip")
    elif how == "card of another library":
        card = folder / "README.md"
        card.write_text(card.read_text().replace("library_name: stable-baselines3", "library_name: transformers"))
    elif how == "card names a dropped environment":
        card = folder / "README.md"
        card.write_text(card.read_text().replace("CartPole-v1", "LunarLander-v2"))
    elif how == "card names no environment":
        (folder / "README.md").write_text("# an agent\n")
    elif how == "malformed card":
        (folder / "README.md").write_text("---\nmodel-index: [unclosed\n---\n")
    elif how == "env override with other spaces":
        options["env"] = "LunarLander-v3"
    elif how == "env_kwargs not a mapping":
        (folder / "env_kwargs.yml").write_text("- 1\n- 2\n")
    elif how == "the DQN's zip under a PPO card":
        agent_zip.unlink()
        shutil.copy(tiny.build(TASK, "tiny-dqn") / "dqn-CartPole-v1.zip", agent_zip)
    return options


@pytest.mark.parametrize(("how", "reason", "match"), [
    ("corrupt zip", "incompatible", "not a readable stable-baselines3 save"),
    ("empty zip", "incompatible", "not a readable stable-baselines3 save"),
    ("zip of something else", "wrong_task", "not a stable-baselines3 agent"),
    ("no zip", "wrong_task", "no stable-baselines3 agent"),
    ("card names SAC", "incompatible", "'SAC' is not one mmhub plays"),
    ("card of another library", "wrong_task", "transformers"),
    ("card names a dropped environment", "incompatible", "LunarLander-v3"),
    ("card names no environment", "incompatible", "pass env="),
    ("malformed card", "incompatible", "pass env="),
    ("env_kwargs not a mapping", "incompatible", "env_kwargs.yml"),
    ("the DQN's zip under a PPO card", "incompatible", "another algorithm"),
])
def test_bad_agents_are_typed_load_errors(twin_copy, how, reason, match):
    options = _spoil(twin_copy, how)
    with pytest.raises(ModelLoadError, match=match) as info:
        load(TASK, model=str(twin_copy), **options)
    assert info.value.reason == reason


def test_load_options_are_checked(twin_copy):
    with pytest.raises(InputError, match="env") as info:  # the user's env= with other spaces: their input
        load(TASK, model=str(twin_copy), env="LunarLander-v3")
    assert info.value.argument == "env"
    with pytest.raises(InputError, match="trust_remote_code"):
        load(TASK, model=str(twin_copy), trust_remote_code="yes")
    with pytest.raises(InputError, match="Did you mean 'trust_remote_code'"):
        load(TASK, model=str(twin_copy), trust_remote_cod=True)
    (twin_copy / "README.md").write_text("# an agent\n")  # no card: env= says which environment
    assert load(TASK, model=str(twin_copy), env="CartPole-v1").env_id == "CartPole-v1"


def test_a_model_of_another_task_is_wrong_task():
    with pytest.raises(ModelLoadError) as info:
        load(TASK, model=str(tiny.build("sentiment")))
    assert info.value.reason == "wrong_task"


def test_the_command_line_plays_and_saves_the_video(tmp_path, capsys):
    from pipelines import cli

    status = cli.main(["run", TASK, "CartPole-v1", "--model", "tiny", "--param", "episodes=2", "--param", "seed=0",
                       "--output", str(tmp_path)])
    assert status == 0
    result = json.loads(capsys.readouterr().out)
    assert len(result["returns"]) == 2 and result["env"] == "CartPole-v1" and result["seed"] == 0
    assert (tmp_path / "episodes.mp4").stat().st_size > 1000
    assert cli.main(["run", TASK, "Nope-v0", "--model", "tiny"]) == 2
    assert "`env` must be" in capsys.readouterr().err
