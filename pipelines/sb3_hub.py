"""The Hub conventions of stable-baselines3 agents, as ``huggingface_sb3`` (3.0) and the RL Zoo write and read them.

A repository holds one agent, named ``{algo}-{env}`` (``ModelName``; ``EnvironmentName`` writes ``/`` as ``-``):

- ``{algo}-{env}.zip``: the agent in SB3's own format (``model.save``);
- ``README.md``: the model card, whose metadata names the algorithm (``model-index[0].name``, e.g. ``PPO``) and the
  environment (``model-index[0].results[0].dataset.name``, e.g. ``CartPole-v1``, also the first tag) and holds the
  evaluation (``mean_reward``, ``"500.00 +/- 0.00"``);
- ``results.json`` (mean_reward, std_reward, is_deterministic, n_eval_episodes, eval_datetime), ``config.json`` (the
  zip's ``data`` plus ``system_info``) and ``replay.mp4`` (``huggingface_sb3.package_to_hub``, the Deep RL course's
  upload); the RL Zoo's uploads (the ``sb3/...`` organisation) have ``config.yml``, ``args.yml`` and
  ``env_kwargs.yml`` instead of ``config.json``, and ``vec_normalize.pkl`` when the agent normalises observations.

Sources: huggingface_sb3 3.0 (PyPI wheel): ``naming_schemes.py`` (``EnvironmentName``, ``ModelName``),
``push_to_hub.py`` (``generate_metadata``, ``_generate_model_card``, ``_save_model_card``, ``_generate_config``,
``_evaluate_agent``), ``load_from_hub.py`` (``hf_hub_download``); rl-baselines3-zoo ``rl_zoo3/push_to_hub.py`` and
``rl_zoo3/load_from_hub.py`` (commit 22e3ff24).

Why not depend on ``huggingface_sb3`` itself: its 3.0 release requires ``huggingface-hub~=0.8`` (this project pins
2.4, so ``pip check`` would fail), ``package_to_hub`` transcodes its replay with ``os.system("ffmpeg ...")`` (no
system ffmpeg here: mmhub uses the one bundled in ``imageio-ffmpeg``), always creates a public repository, and the
parts mmhub needs are three ``huggingface_hub`` calls (``hf_hub_download``, ``metadata_eval_result`` +
``metadata_save``, ``upload_folder``), used here the same way, so the cards and layout come out identical
(tests/pipelines/test_reinforcement_learning.py compares the card with huggingface_sb3's own output).

>>> from pipelines import sb3_hub
>>> sb3_hub.model_name("ppo", "CartPole-v1")
'ppo-CartPole-v1'
>>> sb3_hub.generate_metadata("PPO", "CartPole-v1", 500.0, 0.0)["model-index"][0]["results"][0]["dataset"]
{'name': 'CartPole-v1', 'type': 'CartPole-v1'}
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import logging
import zipfile
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

LIBRARY = "stable-baselines3"
CARD = "README.md"
RESULTS = "results.json"
CONFIG = "config.json"
REPLAY = "replay.mp4"
VEC_NORMALIZE = "vec_normalize.pkl"
ENV_KWARGS = "env_kwargs.yml"  # the RL Zoo's
ZOO_CONFIG = "config.yml"  # the RL Zoo's hyperparameters (wrappers, normalisation)


def environment_name(env_id: str) -> str:
    """``EnvironmentName``: the env id with ``/`` written ``-`` (and only the part after a ``module:`` prefix)."""
    name = env_id.replace("/", "-")
    if ":" in name:
        parts = name.split(":")
        if len(parts) != 2:
            raise ValueError(f"Environment name {env_id} contains more than one colon!")
        name = parts[1]
    return name


def model_name(algo: str, env_id: str) -> str:
    """``ModelName``: ``{algo}-{environment_name(env_id)}``; the agent's file is ``model_name(...) + ".zip"``."""
    return f"{algo}-{environment_name(env_id)}"


def generate_metadata(algo_class: str, env_id: str, mean_reward: float, std_reward: float) -> dict[str, Any]:
    """The card's metadata exactly as ``huggingface_sb3.push_to_hub.generate_metadata`` builds it."""
    from huggingface_hub.repocard import metadata_eval_result

    metadata: dict[str, Any] = {
        "library_name": LIBRARY,
        "tags": [env_id, "deep-reinforcement-learning", "reinforcement-learning", LIBRARY],
    }
    evaluation = metadata_eval_result(
        model_pretty_name=algo_class, task_pretty_name="reinforcement-learning", task_id="reinforcement-learning",
        metrics_pretty_name="mean_reward", metrics_id="mean_reward",
        metrics_value=f"{mean_reward:.2f} +/- {std_reward:.2f}", dataset_pretty_name=env_id, dataset_id=env_id)
    return {**metadata, **evaluation}


def card_header(algo_class: str, env_id: str) -> str:
    """The first lines of ``huggingface_sb3``'s generated card (its ``_generate_model_card``), word for word."""
    return (f"\n# **{algo_class}** Agent playing **{env_id}**\n"
            f"This is a trained model of a **{algo_class}** agent playing **{env_id}**\n"
            "using the [stable-baselines3 library](https://github.com/DLR-RM/stable-baselines3).\n")


def save_model_card(folder: Path, card: str, metadata: dict[str, Any]) -> Path:
    """Write ``README.md`` = `card` with `metadata` as its YAML front matter (``huggingface_hub.metadata_save``, as
    ``huggingface_sb3._save_model_card`` does)."""
    from huggingface_hub.repocard import metadata_save

    path = Path(folder) / CARD
    path.write_text(card, encoding="utf-8")
    metadata_save(path, metadata)
    return path


def write_config(agent_zip: Path, folder: Path) -> Path:
    """``config.json``: the agent zip's ``data`` (JSON) plus ``system_info``, as ``huggingface_sb3._generate_config``
    writes it (without leaving an unzipped copy of the agent beside it, as upstream does)."""
    import stable_baselines3

    with zipfile.ZipFile(agent_zip) as archive:
        data = json.loads(archive.read("data"))
    data["system_info"] = stable_baselines3.get_system_info(print_info=False)[0]
    path = Path(folder) / CONFIG
    path.write_text(json.dumps(data))
    return path


def write_results(folder: Path, mean_reward: float, std_reward: float, deterministic: bool,
                  n_eval_episodes: int) -> Path:
    """``results.json`` with ``huggingface_sb3._evaluate_agent``'s keys."""
    path = Path(folder) / RESULTS
    path.write_text(json.dumps({"mean_reward": float(mean_reward), "std_reward": float(std_reward),
                                "is_deterministic": bool(deterministic), "n_eval_episodes": int(n_eval_episodes),
                                "eval_datetime": datetime.datetime.now().isoformat()}))
    return path


@dataclasses.dataclass(frozen=True)
class CardInfo:
    """What an agent's model card says: the algorithm's class name, the environment id, the reported reward."""

    algo: str | None
    env_id: str | None
    mean_reward: str | None = None
    library: str | None = None


def read_card(path: Path) -> CardInfo:
    """The algorithm, environment and reported reward from a card's metadata (`CardInfo` of Nones when absent).

    The environment is ``model-index[0].results[0].dataset.name`` (``generate_metadata``'s ``dataset_pretty_name``),
    else the first tag (also the env id there); the algorithm is ``model-index[0].name``.
    """
    from huggingface_hub.repocard import metadata_load

    try:
        metadata = metadata_load(path) or {}
    except (ValueError, UnicodeDecodeError, OSError) as err:
        logger.warning("unreadable model card %s: %s", path, err)
        metadata = {}
    except Exception as err:  # noqa: BLE001 - yaml's own errors (a malformed front matter)
        logger.warning("unreadable model card %s: %s", path, err)
        metadata = {}
    algo = env_id = reward = None
    index = metadata.get("model-index")
    if isinstance(index, list) and index and isinstance(index[0], dict):
        algo = _text(index[0].get("name"))
        results = index[0].get("results")
        if isinstance(results, list) and results and isinstance(results[0], dict):
            dataset = results[0].get("dataset")
            env_id = _text(dataset.get("name")) if isinstance(dataset, dict) else None
            metrics = results[0].get("metrics")
            if isinstance(metrics, list) and metrics and isinstance(metrics[0], dict):
                reward = _text(metrics[0].get("value"))
    tags = metadata.get("tags")
    if env_id is None and isinstance(tags, list) and tags and isinstance(tags[0], str) \
            and tags[0] not in ("deep-reinforcement-learning", "reinforcement-learning", LIBRARY):
        env_id = tags[0]
    return CardInfo(algo, env_id, reward, _text(metadata.get("library_name")))


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def check_push(repo_id: str | None, algo: str, env_id: str) -> str:
    """The repository a push will create (``{user}/{algo}-{env}`` when `repo_id` is None, ``ModelRepoId``'s rule),
    checked before any training: the Hub must be reachable and a token set. `RuntimeError` with the fix otherwise."""
    from huggingface_hub import HfApi, constants

    if constants.HF_HUB_OFFLINE:
        raise RuntimeError("--push-to-hub needs the Hugging Face Hub, and HF_HUB_OFFLINE is set: unset it (and log in "
                           "with `hf auth login`), or train without --push-to-hub and upload the folder later.")
    try:
        user = HfApi().whoami()["name"]
    except Exception as err:  # noqa: BLE001 - no token, a bad token, no network: all stop the push before training
        raise RuntimeError(f"--push-to-hub cannot reach the Hub as a logged-in user ({type(err).__name__}: {err}). "
                           f"Run `hf auth login` (or set HF_TOKEN) on a machine with network access, or train "
                           f"without --push-to-hub.") from None
    return repo_id or f"{user}/{model_name(algo, env_id)}"


def push_folder(folder: Path, repo_id: str, private: bool, message: str) -> str:
    """Create `repo_id` (when missing) and upload the agent's folder to it (``HfApi.upload_folder``, as
    ``package_to_hub`` does); returns the repository id."""
    from huggingface_hub import HfApi

    api = HfApi()
    repo = api.create_repo(repo_id, private=private, exist_ok=True)
    api.upload_folder(folder_path=str(folder), repo_id=repo.repo_id, commit_message=message)
    logger.info("pushed to https://huggingface.co/%s", repo.repo_id)
    return repo.repo_id


def evaluate(agent: Any, env_id: str, n_eval_episodes: int = 10, seed: int = 0,
             deterministic: bool = True) -> tuple[float, float, list[float]]:
    """``(mean, std, returns)`` of `n_eval_episodes` episodes by SB3's own ``evaluate_policy`` (as
    ``huggingface_sb3._evaluate_agent``), on a ``Monitor``-wrapped environment in a ``DummyVecEnv`` seeded with
    `seed`; ``agent(episodes=n, seed=seed)`` of `pipelines.reinforcement_learning` plays the same episodes."""
    import gymnasium as gym
    import numpy as np
    from stable_baselines3.common.evaluation import evaluate_policy
    from stable_baselines3.common.monitor import Monitor
    from stable_baselines3.common.vec_env import DummyVecEnv

    env = DummyVecEnv([lambda: Monitor(gym.make(env_id))])
    env.seed(seed)
    try:
        returns, _ = evaluate_policy(agent, env, n_eval_episodes=n_eval_episodes, deterministic=deterministic,
                                     return_episode_rewards=True)
    finally:
        env.close()
    returns = [float(r) for r in returns]
    return float(np.mean(returns)), float(np.std(returns)), returns


def write_replay(agent: Any, env_id: str, path: Path, seed: int = 0, video_length: int = 1000,
                 deterministic: bool = True) -> int:
    """``replay.mp4``: the agent playing from ``reset(seed=seed)`` for `video_length` frames (episode after
    episode, as ``huggingface_sb3._generate_replay`` films ``video_length`` steps), written as it plays; returns the
    frame count."""
    from pipelines.reinforcement_learning import MAX_EPISODES, make_env, play, video_writer

    env = make_env(env_id, render=True)
    fps = int(env.metadata.get("render_fps") or 30)
    count = 0
    try:
        with video_writer(path, fps) as append:

            def write(frame: Any) -> None:
                nonlocal count
                append(frame)
                count += 1

            play(agent, env_id, episodes=MAX_EPISODES, seed=seed, deterministic=deterministic, record=MAX_EPISODES,
                 max_frames=video_length, env=env, on_frame=write,
                 progress=lambda step, total, info: count < video_length)
    finally:
        env.close()
    return count


def package(agent: Any, algo_class: str, env_id: str, folder: Path, *, seed: int = 0, n_eval_episodes: int = 10,
            deterministic: bool = True, video_length: int = 1000, body: Any = "") -> dict[str, Any]:
    """Write an agent's folder in the Hub layout, as ``huggingface_sb3.package_to_hub`` does before uploading: the
    zip (``model.save``), ``config.json``, ``results.json`` (``evaluate_policy`` over `n_eval_episodes`),
    ``replay.mp4`` (`video_length` frames; 0: none) and the card (upstream's header, then `body`, under its
    metadata; `body` may be a function of the evaluation). Returns the evaluation: ``mean_reward``, ``std_reward``,
    ``episode_returns``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    agent_zip = folder / f"{model_name(algo_class.lower(), env_id)}.zip"
    agent.save(agent_zip)
    write_config(agent_zip, folder)
    mean, std, returns = evaluate(agent, env_id, n_eval_episodes, seed, deterministic)
    write_results(folder, mean, std, deterministic, n_eval_episodes)
    if video_length:
        write_replay(agent, env_id, folder / REPLAY, seed, video_length, deterministic)
    evaluation = {"mean_reward": mean, "std_reward": std, "episode_returns": returns}
    text = body(evaluation) if callable(body) else body
    save_model_card(folder, card_header(algo_class, env_id) + text, generate_metadata(algo_class, env_id, mean, std))
    return evaluation


__all__ = ["CardInfo", "card_header", "check_push", "environment_name", "evaluate", "generate_metadata", "model_name",
           "package", "push_folder", "read_card", "save_model_card", "write_config", "write_replay", "write_results"]
