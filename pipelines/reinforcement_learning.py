"""Reinforcement learning: a stable-baselines3 agent from the Hub (or trained here) plays Gymnasium episodes.

>>> from pipelines import load
>>> agent = load("reinforcement-learning")                      # sb3/ppo-CartPole-v1: the RL Zoo's PPO
>>> run = agent(episodes=5, seed=0)                             # the environment comes from the model card
>>> run.returns, run.mean_return                                # each episode's return, and their mean
([500.0, 500.0, 500.0, 500.0, 500.0], 500.0)
>>> run.save("cartpole.mp4"); run.rewards[0][:3]                # the filmed episode, and its per-step rewards
>>> load("reinforcement-learning", model="tiny")(episodes=3, seed=0).returns      # an untrained PPO, offline

The agent is a folder in the Hub layout of ``huggingface_sb3`` / the RL Zoo (`pipelines.sb3_hub`): the SB3 zip, and a
model card whose metadata names the algorithm (PPO, A2C, DQN) and the environment (``env_id``). The environment is
made with ``gymnasium.make(env_id, render_mode="rgb_array")``; ``agent(env=...)`` plays another one with the same
observation and action spaces.

Playing, as SB3's ``evaluate_policy`` does (the same returns for the same seed: tests/pipelines): the first
episode starts from ``env.reset(seed=seed)``, the next ones from ``env.reset()`` (the environment's generator goes
on, as a ``DummyVecEnv`` seeded with ``seed`` resets itself), actions from ``model.predict(obs,
deterministic=True)`` (the course's and the Zoo's choice outside Atari); with ``deterministic=False`` the sampling
(torch, and DQN's epsilon-greedy draws) is seeded too. The first `record` episodes are filmed (``env.render()``
after the reset and after every step, as ``VecVideoRecorder`` does), at the environment's ``render_fps``.

Loading is safe by default (`pipelines.sb3_load`): what SB3 stores as cloudpickle is rebuilt instead of
unpickled (the policy class from its recorded name, the spaces from the environment, the schedules as constants);
an agent that needs more (a custom policy, the RL Zoo's ``vec_normalize.pkl``) loads only with
``trust_remote_code=True``. Agents saved with the old ``gym`` package load too, since nothing of it is unpickled.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from pipelines import sb3_hub, sb3_load, validate
from pipelines.base import Pipeline, ProgressCallback, Result, translating_load_errors
from pipelines.errors import InputError, ModelLoadError

logger = logging.getLogger(__name__)

#: The environments README.md documents as working here (gymnasium 1.4, box2d 2.3.10, pygame 2.6.1).
ENVIRONMENTS = ("CartPole-v1", "Acrobot-v1", "MountainCar-v0", "LunarLander-v3")
MAX_EPISODES = 1000
MAX_FRAMES = 10_000  # the most frames a result holds (a CartPole frame is 600 x 400 x 3 = 0.7 MB)
DEFAULT_MAX_FRAMES = 1000  # huggingface_sb3's replay length (video_length=1000)
MAX_EPISODE_STEPS = 100_000  # a bound for environments without a time limit of their own
VIDEO_SUFFIXES = (".mp4",)


@dataclasses.dataclass
class EpisodesResult(Result):
    """What an agent did: each episode's return and length, its per-step rewards (the reward curve), and the
    filmed episodes as uint8 frames ``(n, height, width, 3)`` at `fps` (``save("run.mp4")`` writes them)."""

    returns: list[float]
    lengths: list[int]
    rewards: list[list[float]]
    frames: np.ndarray | None
    fps: int
    seed: int
    env: str
    algo: str
    deterministic: bool
    filmed_episodes: int = 0
    video_truncated: bool = False
    interrupted: bool = False
    model: str = ""
    licence: str = ""

    @property
    def episodes(self) -> int:
        return len(self.returns)

    @property
    def mean_return(self) -> float:
        return float(np.mean(self.returns)) if self.returns else float("nan")

    @property
    def std_return(self) -> float:
        """The population standard deviation (``np.std``), as ``evaluate_policy`` reports it."""
        return float(np.std(self.returns)) if self.returns else float("nan")

    def curve(self) -> list[tuple[int, int, float, float]]:
        """``(episode, step, reward, return so far)`` for every step of every episode (episodes and steps from 1)."""
        rows = []
        for episode, rewards in enumerate(self.rewards, start=1):
            total = 0.0
            for step, reward in enumerate(rewards, start=1):
                total += reward
                rows.append((episode, step, reward, total))
        return rows

    def save(self, path: str | os.PathLike, fps: int | None = None) -> Path:
        """Write the filmed episodes to `path` (``.mp4``, H.264 through the ffmpeg bundled in imageio-ffmpeg)."""
        path = Path(path).expanduser()
        if path.suffix.lower() not in VIDEO_SUFFIXES:
            raise InputError("path", str(path), f"a file name ending in one of {list(VIDEO_SUFFIXES)}")
        if self.frames is None or not len(self.frames):
            raise InputError("frames", None, "a filmed episode", "Play with record >= 1 to film one.")
        fps = validate.integer("fps", self.fps if fps is None else fps, low=1, high=240)
        write_video(self.frames, path, fps)
        return path


def write_video(frames: np.ndarray | list[np.ndarray], path: Path, fps: int) -> Path:
    """H.264 MP4 of uint8 RGB `frames` (`video_writer`)."""
    with video_writer(path, fps) as append:
        for frame in frames:
            append(frame)
    logger.info("wrote %s (%d frames at %d fps)", path, len(frames), fps)
    return path


@contextlib.contextmanager
def video_writer(path: Path, fps: int) -> Iterator[Any]:
    """An ``append(frame)`` that writes uint8 RGB frames to an H.264 MP4 through imageio's ffmpeg writer (the binary
    bundled in imageio-ffmpeg, as diffusers' ``export_to_video`` uses it); an odd side gets one edge pixel more
    (yuv420p needs even sides) instead of imageio's resize."""
    import imageio.v2 as imageio

    path.parent.mkdir(parents=True, exist_ok=True)
    with imageio.get_writer(str(path), format="FFMPEG", mode="I", fps=fps, codec="libx264", quality=7,
                            pixelformat="yuv420p", macro_block_size=1) as writer:

        def append(frame: np.ndarray) -> None:
            height, width = frame.shape[:2]
            if height % 2 or width % 2:
                frame = np.pad(frame, ((0, height % 2), (0, width % 2), (0, 0)), mode="edge")
            writer.append_data(np.ascontiguousarray(frame))

        yield append


# ----------------------------------------------------------------------------------------------------------------
# environments


def check_env_id(env_id: Any, argument: str = "env") -> str:
    """`env_id` if Gymnasium registers it (an `InputError` with gymnasium's reason and a did-you-mean otherwise)."""
    import difflib

    import gymnasium as gym

    allowed = f"a Gymnasium environment id, e.g. one of {list(ENVIRONMENTS)}"
    if not isinstance(env_id, str):
        raise InputError(argument, env_id, allowed)
    env_id = validate.text(argument, env_id, max_chars=200).strip()
    try:
        gym.spec(env_id)
    except gym.error.Error as err:
        hint = str(err).strip()
        if isinstance(err, gym.error.DeprecatedEnv) or "deprecated" in hint.lower():
            hint += " (Gymnasium 1.x dropped it.)"
        elif "did you mean" not in hint.lower():
            close = difflib.get_close_matches(env_id, list(gym.registry), n=1)
            hint += f" Did you mean {close[0]!r}?" if close else ""
        raise InputError(argument, env_id, allowed, hint) from None
    return env_id


def make_env(env_id: str, render: bool = False, env_kwargs: dict[str, Any] | None = None, argument: str = "env"):
    """``gymnasium.make(env_id)`` (with ``render_mode="rgb_array"`` when `render`); a missing optional dependency
    (box2d for LunarLander, ale-py for Atari) is an `InputError` naming the pip package."""
    import gymnasium as gym

    kwargs = dict(env_kwargs or {})
    if render:
        kwargs["render_mode"] = "rgb_array"
        # pygame draws rgb_array frames off screen; without a display SDL would complain on every first frame
        os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    try:
        return gym.make(env_id, **kwargs)
    except gym.error.DependencyNotInstalled as err:
        raise InputError(argument, env_id, "an environment whose dependencies are installed", str(err)) from None
    except TypeError as err:  # env_kwargs the environment does not take
        raise InputError("env_kwargs", kwargs, f"keyword arguments {env_id} takes", str(err)) from None


def describe_space(space: Any) -> str:
    """``Box(4,) float32`` / ``Discrete(2)``: a space as messages name it."""
    name = type(space).__name__
    if name == "Discrete":
        return f"Discrete({int(space.n)})"
    shape = getattr(space, "shape", None)
    return f"{name}{tuple(shape) if shape is not None else ''} {getattr(space, 'dtype', '')}".strip()


# ----------------------------------------------------------------------------------------------------------------
# playing


@contextlib.contextmanager
def seeded_sampling(seed: int, action_space: Any) -> Iterator[None]:
    """Seed what ``predict(deterministic=False)`` draws from (torch's generator; numpy's global one and the action
    space for DQN's epsilon-greedy), restoring torch's and numpy's states afterwards."""
    import torch

    state = np.random.get_state()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        np.random.seed(seed % 2**32)
        action_space.seed(seed)
        try:
            yield
        finally:
            np.random.set_state(state)


def play(agent: Any, env_id: str, episodes: int = 1, seed: int = 0, deterministic: bool = True, record: int = 1,
         max_frames: int = DEFAULT_MAX_FRAMES, progress: ProgressCallback | None = None,
         env_kwargs: dict[str, Any] | None = None, normalize: Any = None, env: Any = None,
         on_frame: Any = None) -> dict[str, Any]:
    """Play `episodes` episodes of `agent` (any SB3 model, or None for uniformly random actions) on `env_id`; the
    fields of an `EpisodesResult` (validated arguments expected). `normalize` is a ``VecNormalize`` whose
    ``normalize_obs`` the agent's observations go through; `env` an already made environment to use; `on_frame`
    receives each filmed frame instead of the result holding them (a replay written as it is played)."""
    own_env = env is None
    if own_env:
        env = make_env(env_id, render=record > 0, env_kwargs=env_kwargs)
    fps = int(env.metadata.get("render_fps") or 30)
    limit = env.spec.max_episode_steps if env.spec is not None and env.spec.max_episode_steps else MAX_EPISODE_STEPS
    returns: list[float] = []
    lengths: list[int] = []
    rewards: list[list[float]] = []
    frames: list[np.ndarray] = []
    film = _Film(max_frames, frames.append if on_frame is None else on_frame)
    interrupted = False
    sampling = seeded_sampling(seed, agent.action_space if agent is not None else env.action_space) \
        if agent is None or not deterministic else contextlib.nullcontext()
    try:
        with sampling:
            for episode in range(episodes):
                obs, _ = env.reset(seed=seed) if episode == 0 else env.reset()
                filming = episode < record
                if filming:
                    film(env)
                steps: list[float] = []
                done = False
                while not done and len(steps) < limit:
                    if agent is None:
                        action = env.action_space.sample()
                    else:
                        seen = normalize.normalize_obs(obs) if normalize is not None else obs
                        action, _ = agent.predict(seen, deterministic=deterministic)
                    obs, reward, terminated, truncated, _ = env.step(_env_action(action, env.action_space))
                    steps.append(float(reward))
                    done = bool(terminated or truncated)
                    if filming:
                        film(env)
                rewards.append(steps)
                returns.append(float(sum(steps)))
                lengths.append(len(steps))
                info = {"episode": episode + 1, "return": returns[-1], "length": lengths[-1]}
                if progress is not None and progress(episode + 1, episodes, info) is False and episode + 1 < episodes:
                    interrupted = True
                    break
    finally:
        if own_env:
            env.close()
    return {"returns": returns, "lengths": lengths, "rewards": rewards,
            "frames": np.stack(frames) if frames else None, "fps": fps, "seed": seed, "env": env_id,
            "deterministic": deterministic, "filmed_episodes": min(record, len(returns)),
            "video_truncated": film.truncated, "interrupted": interrupted}


class _Film:
    """Hands each rendered frame to `keep` until `max_frames` are taken; past that the video is cut (`truncated`)."""

    def __init__(self, max_frames: int, keep: Any):
        self.max_frames, self.keep, self.taken, self.truncated = max_frames, keep, 0, False

    def __call__(self, env: Any) -> None:
        if self.taken >= self.max_frames:
            self.truncated = True
            return
        frame = env.render()
        if frame is not None:
            self.keep(np.asarray(frame, dtype=np.uint8))
            self.taken += 1


def _env_action(action: Any, space: Any) -> Any:
    """``predict``'s action for one observation as the environment takes it (an int for a Discrete space)."""
    if type(space).__name__ == "Discrete":
        return int(np.asarray(action).reshape(-1)[0])
    return np.asarray(action).reshape(space.shape)


def random_returns(env_id: str, episodes: int, seed: int) -> list[float]:
    """The returns of uniformly random actions on `env_id` (the baseline a trained agent must beat), seeded."""
    return play(None, env_id, episodes=episodes, seed=seed, record=0)["returns"]


class ReinforcementLearningPipeline(Pipeline):
    """A stable-baselines3 agent (PPO, A2C, DQN) playing seeded Gymnasium episodes, filmed.

    >>> agent = ReinforcementLearningPipeline.from_pretrained("sb3/dqn-CartPole-v1")
    >>> agent(episodes=10, seed=0).mean_return
    """

    task = "reinforcement-learning"

    def __init__(self, agent: Any, algo: str, env_id: str, model_id: str, device: Any, *, env_kwargs: dict[str, Any],
                 normalize: Any = None, card: sb3_hub.CardInfo | None = None):
        super().__init__(model_id, device, None)
        self.agent, self.algo, self.env_id = agent, algo, env_id
        self.env_kwargs, self.normalize, self.card = env_kwargs, normalize, card
        self._lock = threading.Lock()  # one episode loop at a time: seeded sampling forks process-wide generators

    @classmethod
    def from_pretrained(cls, model: str, *, device: Any = None, dtype: Any = None, revision: str | None = None,
                        env: str | None = None, trust_remote_code: bool = False) -> ReinforcementLearningPipeline:
        """Load an agent in the Hub layout (a Hub id such as ``"sb3/ppo-CartPole-v1"``, or a local folder).

        Args:
            model (`str`): Hub id or folder holding the SB3 zip and the model card.
            device (`str`, *optional*): default ``"cpu"``: these small MLP policies run faster there (SB3 warns that
                PPO "is meant to be run primarily on the CPU" without a CNN); pass ``"cuda"`` to override.
            dtype: not used (SB3 policies are float32).
            revision (`str`, *optional*): a Hub revision.
            env (`str`, *optional*): the environment to play; default the card's ``env_id`` (needed for agents whose
                environment Gymnasium 1.x renamed, e.g. ``LunarLander-v2`` -> ``env="LunarLander-v3"``).
            trust_remote_code (`bool`, defaults to `False`): allow SB3 to unpickle what mmhub cannot rebuild (a custom
                policy, the RL Zoo's ``vec_normalize.pkl``); pickles can run code.
        """
        from pipelines.base import resolve_device

        trust_remote_code = validate.boolean("trust_remote_code", trust_remote_code)
        device = resolve_device(device if device is not None else "cpu")
        override = check_env_id(env) if env is not None else None
        with translating_load_errors(model, cls.task):
            files, card = sb3_load.resolve_files(model, revision)
        if card.library not in (None, sb3_hub.LIBRARY):
            raise ModelLoadError(model, "wrong_task", f"its card names library {card.library!r}, not "
                                                      f"{sb3_hub.LIBRARY}.")
        algo = sb3_load.algo_name(card, files.agent_zip, model)
        env_id = override or card.env_id
        if env_id is None:
            raise ModelLoadError(model, "incompatible", "its model card names no environment (model-index ... "
                                                        "dataset.name, as huggingface_sb3 writes it); pass env=.")
        if override is None:
            try:
                check_env_id(env_id)
            except InputError as err:
                raise ModelLoadError(model, "incompatible", f"its card's environment {env_id!r} cannot be made "
                                                            f"here: {err.hint} Pass env= (an environment with the "
                                                            f"same spaces) to play it there.") from None
        sb3_load.check_zoo_wrappers(files.zoo_config, model)
        env_kwargs = sb3_load.read_env_kwargs(files.env_kwargs, model)
        probe = make_env(env_id, env_kwargs=env_kwargs)  # the spaces the agent must have
        try:
            agent = sb3_load.load_agent(files.agent_zip, algo, probe.observation_space, probe.action_space,
                                        trust_remote_code=trust_remote_code, device=str(device), model=model)
            normalize = None
            if files.vec_normalize is not None:
                normalize = sb3_load.load_vec_normalize(files.vec_normalize, probe, trust_remote_code, model)
        except sb3_load.SpaceMismatch as err:
            what = "observations" if err.key == "observation_space" else "actions"
            message = f"the agent's {what} are {err.problem} as {env_id} has"
            if override is not None:
                raise InputError("env", env, f"an environment with the agent's {what}", message) from None
            raise ModelLoadError(model, "incompatible", message + ".") from None
        finally:
            probe.close()
        logger.info("loaded %s agent %s for %s", algo, model, env_id)
        return cls(agent, algo, env_id, model, device, env_kwargs=env_kwargs, normalize=normalize, card=card)

    def __call__(self, env: str | None = None, episodes: int = 1, seed: int | None = None, deterministic: bool = True,
                 record: int = 1, max_frames: int = DEFAULT_MAX_FRAMES,
                 progress: ProgressCallback | None = None) -> EpisodesResult:
        """Play `episodes` seeded episodes and film the first `record`.

        Args:
            env (`str`, *optional*): a Gymnasium id with the agent's observation and action spaces; default the one
                the model card names.
            episodes (`int`, defaults to 1): 1 to 1000.
            seed (`int`, *optional*): the first episode's ``env.reset(seed=...)`` (and the action sampling's seed);
                default a random one, reported in the result.
            deterministic (`bool`, defaults to `True`): the policy's most likely action (SB3's ``predict``); False
                samples (seeded).
            record (`int`, defaults to 1): film the first `record` episodes (0: no video).
            max_frames (`int`, defaults to 1000): cut the video at this many frames (1 to 10,000; huggingface_sb3's
                replays are 1000 steps).
            progress (`ProgressCallback`, *optional*): ``progress(episode, episodes, info)`` after each episode
                (``info``: ``return``, ``length``); returning False stops after that episode (``interrupted``).
        """
        env_id = self.env_id if env is None else check_env_id(env)
        episodes = validate.integer("episodes", episodes, low=1, high=MAX_EPISODES)
        seed = validate.seed(seed)
        deterministic = validate.boolean("deterministic", deterministic)
        record = validate.integer("record", record, low=0, high=MAX_EPISODES)
        max_frames = validate.integer("max_frames", max_frames, low=1, high=MAX_FRAMES)
        validate.callback("progress", progress, "progress(step, total, info)")
        playing = make_env(env_id, render=record > 0, env_kwargs=self.env_kwargs if env_id == self.env_id else None)
        try:
            if env_id != self.env_id:
                for key, space in (("observation", self.agent.observation_space), ("action", self.agent.action_space)):
                    theirs = getattr(playing, f"{key}_space")
                    if type(theirs) is not type(space) or theirs.shape != space.shape or \
                            getattr(theirs, "n", None) != getattr(space, "n", None):
                        raise InputError("env", env, f"an environment with the agent's {key}s "
                                                     f"({describe_space(space)})",
                                         f"{env_id} has {describe_space(theirs)}.")
            with self._lock:
                fields = play(self.agent, env_id, episodes, seed, deterministic, record, max_frames, progress,
                              normalize=self.normalize, env=playing)
        finally:
            playing.close()
        if fields["interrupted"]:
            logger.info("stopped by the progress callback after %d of %d episodes", len(fields["returns"]), episodes)
        info = self._info()
        return EpisodesResult(**fields, algo=self.algo, model=self.model_id, licence=info.licence if info else "")

    def _info(self):
        from pipelines import TASKS

        return TASKS[self.task].model_info(self.model_id)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.model_id!r}, algo={self.algo}, env={self.env_id})"


__all__ = ["ENVIRONMENTS", "EpisodesResult", "ReinforcementLearningPipeline", "check_env_id", "describe_space",
           "make_env", "play", "random_returns", "video_writer", "write_video"]
