"""Train a PPO or DQN agent (stable-baselines3) on a Gymnasium environment, resumably; the result loads into
``load("reinforcement-learning", model=...)`` and pushes to the Hub in huggingface_sb3's layout.

Commands (run from the repository root)::

    python -m finetune.rl --algo ppo --env CartPole-v1 --timesteps 100000 --output-dir runs/rl
    python -m finetune.rl --algo dqn --env CartPole-v1 --output-dir runs/rl-dqn     # the RL Zoo's 50,000 steps

    # after a crash or a kill: continue from the last checkpoint (repeat the other flags)
    python -m finetune.rl --algo ppo --env CartPole-v1 --timesteps 100000 --output-dir runs/rl --resume

    # LunarLander (box2d); then upload as me/ppo-LunarLander-v3 (the Hub's {algo}-{env} name by default)
    python -m finetune.rl --algo ppo --env LunarLander-v3 --output-dir runs/lunar --push-to-hub

    # any hyperparameter of the algorithm, as JSON (on top of the Zoo's for the environment)
    python -m finetune.rl --algo dqn --timesteps 5000 --hyperparams '{"learning_starts": 500, "train_freq": 64}'

Hyperparameters default to the RL Zoo's tuned ones for the environment (``hyperparams/ppo.yml`` and ``dqn.yml`` of
DLR-RM/rl-baselines3-zoo at commit 22e3ff24, `ZOO`; the environments it has none for get SB3's defaults), except its
``normalize: true`` for PPO on Acrobot and MountainCar: an agent published with a pickled ``vec_normalize.pkl`` would
load only with ``trust_remote_code=True``, so mmhub trains on raw observations (DQN needs no normalisation there).

The run: ``make_vec_env`` (each environment in a ``Monitor``, seeded ``--seed + i``), ``model.learn`` with a callback
that logs every finished episode (timestep, return, length), reports progress (a tqdm bar here, the live reward
curve in the app) and, at the start of a rollout once ``--save-steps`` timesteps have passed, writes a checkpoint
(``model.save``, the replay buffer for DQN, then the ``trainer_state.json`` marker) in
``<output-dir>.partial/checkpoints``. ``--resume`` loads the newest complete checkpoint (and the replay buffer) and
continues with ``learn(..., reset_num_timesteps=False)`` up to ``--timesteps``: a SIGKILL loses at most
``--save-steps`` timesteps and no logged episode is lost or doubled.

The finished folder (moved to ``--output-dir`` only when complete) is the agent in the Hub layout of
`pipelines.sb3_hub`: ``{algo}-{env}.zip``, ``config.json``, ``results.json`` and the course's model card (mean
reward ± std over ``--eval-episodes`` = 10 episodes of SB3's ``evaluate_policy``, deterministic, seeded
``--seed + 10000``), ``replay.mp4``, plus ``metrics.json`` (with uniformly random actions' returns on the same seeds,
the baseline) and ``training_curve.png``. A progress callback returning False ends the run early *with* a
finished folder; Ctrl-C stops it and keeps the checkpoints for ``--resume``.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from finetune.cards import hyperparameter_table
from finetune.loop import check_device
from finetune.run import (
    RunFolders,
    UsageError,
    cli_main,
    flag_name,
    publish,
    recorded_arguments,
    resume_hint,
    run_in_folders,
)
from pipelines import sb3_hub, validate
from pipelines.errors import InputError

logger = logging.getLogger(__name__)

TASK = "reinforcement-learning"
ALGOS = {"ppo": "PPO", "dqn": "DQN"}
MODEL_FILE = "model.zip"
REPLAY_BUFFER = "replay_buffer.pkl"
MARKER = "trainer_state.json"
EVAL_SEED_OFFSET = 10_000  # evaluation episodes start from --seed + 10000: not the training environments' seeds
MAX_TIMESTEPS = 100_000_000
DEFAULT_TIMESTEPS = 100_000
# Arguments that may change between a run and its --resume without changing what is trained.
_RESUME_FREE = {"resume", "overwrite", "push_to_hub", "hub_model_id", "hub_private", "device", "num_threads"}

#: The RL Zoo's tuned hyperparameters (DLR-RM/rl-baselines3-zoo 22e3ff24, hyperparams/ppo.yml and dqn.yml), as it
#: writes them: ``n_timesteps`` and ``n_envs`` are the run's, ``lin_X`` a linear schedule from X to 0, the rest the
#: algorithm's arguments. ``policy: MlpPolicy`` everywhere; ``normalize: true`` left out (see the module docstring).
ZOO: dict[tuple[str, str], dict[str, Any]] = {
    ("ppo", "CartPole-v1"): {"n_envs": 8, "n_timesteps": 1e5, "n_steps": 32, "batch_size": 256, "gae_lambda": 0.8,
                             "gamma": 0.98, "n_epochs": 20, "ent_coef": 0.0, "learning_rate": "lin_0.001",
                             "clip_range": "lin_0.2"},
    ("ppo", "MountainCar-v0"): {"n_envs": 16, "n_timesteps": 1e6, "n_steps": 16, "gae_lambda": 0.98, "gamma": 0.99,
                                "n_epochs": 4, "ent_coef": 0.0},
    ("ppo", "Acrobot-v1"): {"n_envs": 16, "n_timesteps": 1e6, "n_steps": 256, "gae_lambda": 0.94, "gamma": 0.99,
                            "n_epochs": 4, "ent_coef": 0.0},
    ("ppo", "LunarLander-v3"): {"n_envs": 16, "n_timesteps": 1e6, "n_steps": 1024, "batch_size": 64,
                                "gae_lambda": 0.98, "gamma": 0.999, "n_epochs": 4, "ent_coef": 0.01},
    ("dqn", "CartPole-v1"): {"n_timesteps": 5e4, "learning_rate": 2.3e-3, "batch_size": 64, "buffer_size": 100000,
                             "learning_starts": 1000, "gamma": 0.99, "target_update_interval": 10, "train_freq": 256,
                             "gradient_steps": 128, "exploration_fraction": 0.16, "exploration_final_eps": 0.04,
                             "policy_kwargs": {"net_arch": [256, 256]}},
    ("dqn", "MountainCar-v0"): {"n_timesteps": 1.2e5, "learning_rate": 4e-3, "batch_size": 128, "buffer_size": 10000,
                                "learning_starts": 1000, "gamma": 0.98, "target_update_interval": 600,
                                "train_freq": 16, "gradient_steps": 8, "exploration_fraction": 0.2,
                                "exploration_final_eps": 0.07, "policy_kwargs": {"net_arch": [256, 256]}},
    ("dqn", "LunarLander-v3"): {"n_timesteps": 1e5, "learning_rate": 6.3e-4, "batch_size": 128, "buffer_size": 50000,
                                "learning_starts": 0, "gamma": 0.99, "target_update_interval": 250, "train_freq": 4,
                                "gradient_steps": -1, "exploration_fraction": 0.12, "exploration_final_eps": 0.1,
                                "policy_kwargs": {"net_arch": [256, 256]}},
    ("dqn", "Acrobot-v1"): {"n_timesteps": 1e5, "learning_rate": 6.3e-4, "batch_size": 128, "buffer_size": 50000,
                            "learning_starts": 0, "gamma": 0.99, "target_update_interval": 250, "train_freq": 4,
                            "gradient_steps": -1, "exploration_fraction": 0.12, "exploration_final_eps": 0.1,
                            "policy_kwargs": {"net_arch": [256, 256]}},
}
# Activation functions --hyperparams may name in policy_kwargs (torch.nn classes).
_ACTIVATIONS = ("ReLU", "Tanh", "ELU", "LeakyReLU", "GELU", "SiLU", "Sigmoid")


def default_output_dir(algo: str, env: str) -> str:
    """``runs/{algo}-{env}``: the Hub's model name (``ModelName``) under runs/."""
    return str(Path("runs") / sb3_hub.model_name(algo, env))


@dataclass
class RLArguments:
    """Everything `python -m finetune.rl` takes; each field is a flag (``--eval-episodes``)."""

    output_dir: str | None = field(default=None, metadata={
        "help": "Folder to create (the agent in the Hub layout: {algo}-{env}.zip, README.md, config.json, "
                "results.json, replay.mp4; metrics.json, training_curve.png). Default: runs/{algo}-{env}."})
    algo: str = field(default="ppo", metadata={"help": "ppo or dqn (stable-baselines3)."})
    env: str = field(default="CartPole-v1", metadata={
        "help": "Gymnasium environment: CartPole-v1, Acrobot-v1, MountainCar-v0, LunarLander-v3 (box2d), or any "
                "other id Gymnasium registers (DQN needs discrete actions)."})
    timesteps: int | None = field(default=None, metadata={
        "help": "Environment steps to train for (default: the RL Zoo's n_timesteps for the environment, else "
                "100000)."})
    seed: int = field(default=0, metadata={"help": "Random seed (weights, environments, evaluation seeds)."})
    hyperparams: str | None = field(default=None, metadata={
        "help": "JSON object of algorithm arguments on top of the Zoo's (e.g. '{\"learning_rate\": 0.001, "
                "\"n_envs\": 4}'); 'lin_X' is a linear schedule from X to 0; policy_kwargs may name activation_fn "
                "as 'ReLU', 'Tanh'..."})
    save_steps: int = field(default=10_000, metadata={
        "help": "Checkpoint at the first rollout start after every N timesteps (a kill loses at most that much)."})
    save_total_limit: int = field(default=2, metadata={"help": "Keep at most this many checkpoints."})
    eval_episodes: int = field(default=10, metadata={
        "help": "Evaluation episodes for the model card's mean reward ± std (the Deep RL course: 10)."})
    video_length: int = field(default=1000, metadata={
        "help": "Frames of replay.mp4 (huggingface_sb3's default 1000; 0: no video)."})
    device: str | None = field(default=None, metadata={
        "help": "cpu (default: SB3's MLP policies train faster there), cuda, cuda:N."})
    num_threads: int = field(default=1, metadata={
        "help": "torch threads while training (the RL Zoo's --num-threads): these networks are tiny, and on a "
                "busy 2-core machine 1 thread trained CartPole 15x faster than 2."})
    resume: bool = field(default=False, metadata={
        "help": "Continue from the last checkpoint in <output-dir>.partial after a crash or a kill."})
    overwrite: bool = field(default=False, metadata={
        "help": "Replace an existing output folder and discard the checkpoints of an earlier run."})
    push_to_hub: bool = field(default=False, metadata={
        "help": "Upload the finished folder to the Hub (checked before training: network and login)."})
    hub_model_id: str | None = field(default=None, metadata={
        "help": "Hub repo for --push-to-hub (default: <your user>/{algo}-{env})."})
    hub_private: bool = field(default=False, metadata={"help": "Create the Hub repo as private."})

    def __post_init__(self) -> None:
        """Every flag checked (finite ranges; NaN, inf, bools refused), as a `UsageError` naming the flag."""
        from pipelines.reinforcement_learning import check_env_id

        try:
            self.algo = validate.choice("--algo", self.algo, list(ALGOS), normalise=str.lower)
            self.env = check_env_id(self.env, "--env")
            if self.timesteps is not None:
                self.timesteps = validate.integer("--timesteps", self.timesteps, low=1, high=MAX_TIMESTEPS)
            self.seed = validate.integer("--seed", self.seed, low=0, high=2**32 - 1 - EVAL_SEED_OFFSET)
            for name, low, high in (("save_steps", 1, MAX_TIMESTEPS), ("save_total_limit", 1, 1000),
                                    ("eval_episodes", 1, 1000), ("video_length", 0, 10_000),
                                    ("num_threads", 1, 1024)):
                setattr(self, name, validate.integer(flag_name(name), getattr(self, name), low=low, high=high))
        except InputError as err:
            raise UsageError(str(err)) from None
        if self.algo == "dqn":
            from pipelines.reinforcement_learning import describe_space, make_env

            env = make_env(self.env, argument="--env")
            actions = env.action_space
            env.close()
            if type(actions).__name__ != "Discrete":
                raise UsageError(f"--algo dqn needs discrete actions; {self.env} has {describe_space(actions)}. "
                                 f"Use --algo ppo.")
        self.overrides = parse_hyperparams(self.hyperparams, self.algo)
        check_device(self)
        if self.output_dir is None:
            self.output_dir = default_output_dir(self.algo, self.env)

    @property
    def total_timesteps(self) -> int:
        zoo = ZOO.get((self.algo, self.env), {})
        return self.timesteps or int(self.overrides.get("n_timesteps", zoo.get("n_timesteps", DEFAULT_TIMESTEPS)))


def parse_hyperparams(text: str | None, algo: str) -> dict[str, Any]:
    """``--hyperparams``: a JSON object whose keys are arguments of the algorithm (or ``n_envs``, ``n_timesteps``);
    `UsageError` naming what is wrong."""
    if text is None or not text.strip():
        return {}
    def refuse(constant: str) -> Any:
        raise ValueError(f"{constant} is not a number JSON allows")

    try:
        value = json.loads(text, parse_constant=refuse)
    except ValueError as err:
        raise UsageError(f"--hyperparams must be a JSON object, e.g. '{{\"learning_rate\": 0.001}}'; {err}.") from None
    if not isinstance(value, dict):
        raise UsageError(f"--hyperparams must be a JSON object (name: value); got {type(value).__name__}.")
    known = _algo_arguments(algo) | {"n_envs", "n_timesteps"}
    unknown = sorted(set(value) - known)
    if unknown:
        import difflib

        close = difflib.get_close_matches(unknown[0], sorted(known), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise UsageError(f"--hyperparams: {', '.join(unknown)} is not an argument of {ALGOS[algo]}{hint}; known: "
                         f"{', '.join(sorted(known))}.")
    if "n_envs" in value:
        try:
            validate.integer("--hyperparams n_envs", value["n_envs"], low=1, high=64)
        except InputError as err:
            raise UsageError(str(err)) from None
    return value


def _algo_arguments(algo: str) -> set[str]:
    import inspect

    cls = _algorithm(algo)
    skip = {"self", "policy", "env", "seed", "device", "verbose", "tensorboard_log", "_init_setup_model"}
    return {name for name in inspect.signature(cls.__init__).parameters if name not in skip}


def _algorithm(algo: str) -> type:
    import stable_baselines3

    return getattr(stable_baselines3, ALGOS[algo])


def hyperparameters(args: RLArguments) -> dict[str, Any]:
    """The Zoo's hyperparameters for (algo, env) with ``--hyperparams`` on top, as recorded in the card (JSON)."""
    merged = {**ZOO.get((args.algo, args.env), {}), **args.overrides}
    merged.pop("n_timesteps", None)
    return merged


def algorithm_kwargs(hyper: dict[str, Any]) -> dict[str, Any]:
    """`hyperparameters` as the algorithm's keyword arguments: ``lin_X`` -> a linear schedule (SB3's
    ``LinearSchedule(X, 0, 1)``, the Zoo's ``linear_schedule(X)``), activation names -> torch.nn classes."""
    import torch
    from stable_baselines3.common.utils import LinearSchedule

    kwargs: dict[str, Any] = {}
    for key, value in hyper.items():
        if key == "n_envs":
            continue
        if isinstance(value, str) and value.startswith("lin_"):
            try:
                value = LinearSchedule(float(value[4:]), 0.0, 1.0)
            except ValueError:
                raise UsageError(f"--hyperparams {key}: {value!r} is not lin_<number>.") from None
        if key == "policy_kwargs" and isinstance(value, dict) and isinstance(value.get("activation_fn"), str):
            name = value["activation_fn"]
            if name not in _ACTIVATIONS:
                raise UsageError(f"--hyperparams policy_kwargs.activation_fn must be one of {list(_ACTIVATIONS)}; "
                                 f"got {name!r}.")
            value = {**value, "activation_fn": getattr(torch.nn, name)}
        kwargs[key] = value
    return kwargs


def make_agent(args: RLArguments, env: Any = None) -> Any:
    """A new (untrained) agent for `args`: ``{PPO,DQN}("MlpPolicy", env, seed=args.seed, **hyperparameters)``; the
    weights the training starts from (the app plays it as "before training")."""
    from stable_baselines3.common.env_util import make_vec_env

    hyper = hyperparameters(args)
    venv = env if env is not None else make_vec_env(args.env, n_envs=int(hyper.get("n_envs", 1)), seed=args.seed)
    try:
        return _algorithm(args.algo)("MlpPolicy", venv, seed=args.seed, device=_device(args), verbose=0,
                                     **algorithm_kwargs(hyper))
    except (TypeError, ValueError, AssertionError) as err:
        venv.close()
        raise UsageError(f"{ALGOS[args.algo]} refused these hyperparameters on {args.env}: {err}") from None


def _device(args: RLArguments) -> str:
    from pipelines.base import resolve_device

    return str(resolve_device(args.device if args.device is not None else "cpu"))


# ----------------------------------------------------------------------------------------------------------------
# the run


def _training_callback(folders: RunFolders, args: RLArguments, total: int, log_history: list[dict[str, Any]],
                       progress: Any):
    """SB3 callback: log finished episodes (from the ``Monitor`` infos), checkpoint at rollout starts, report."""
    from stable_baselines3.common.callbacks import BaseCallback

    class RunCallback(BaseCallback):
        def __init__(self) -> None:
            super().__init__()
            self.stopped = False
            self.last_report = -1
            self.next_save = 0

        def _on_training_start(self) -> None:
            self.next_save = (self.num_timesteps // args.save_steps + 1) * args.save_steps
            self.report_every = max(1, total // 200)

        def _on_rollout_start(self) -> None:
            if self.num_timesteps >= self.next_save and self.num_timesteps < total:
                save_checkpoint(folders, self.model, log_history, args.save_total_limit)
                self.next_save = (self.num_timesteps // args.save_steps + 1) * args.save_steps

        def _on_step(self) -> bool:
            finished = []  # several environments can end an episode at the same step
            for info in self.locals.get("infos", []):
                episode = info.get("episode")
                if episode is not None:
                    finished.append({"step": int(self.num_timesteps), "episode": len(log_history) + 1,
                                     "return": float(episode["r"]), "length": int(episode["l"])})
                    log_history.append(finished[-1])
            due = self.num_timesteps - self.last_report >= self.report_every or self.num_timesteps >= total
            if progress is None or not (due or finished):
                return True
            self.last_report = self.num_timesteps
            recent = [e["return"] for e in log_history[-10:]]
            info = {"stage": "train", "episodes": len(log_history), "finished": finished,
                    "mean_return": sum(recent) / len(recent) if recent else None}
            if progress(min(int(self.num_timesteps), total), total, info) is False:
                self.stopped = True
                return False
            return True

    return RunCallback()


def save_checkpoint(folders: RunFolders, model: Any, log_history: list[dict[str, Any]], keep: int) -> Path:
    """``checkpoint-<timestep>``: the agent (``model.save``), DQN's replay buffer, then the marker (atomically, last);
    all but the newest `keep` checkpoints are removed."""
    step = int(model.num_timesteps)
    folder = folders.checkpoints / f"checkpoint-{step}"
    folder.mkdir(parents=True, exist_ok=True)
    model.save(folder / MODEL_FILE)
    if hasattr(model, "save_replay_buffer"):
        model.save_replay_buffer(folder / REPLAY_BUFFER)
    marker = folder / f".{MARKER}.{os.getpid()}"
    marker.write_text(json.dumps({"global_step": step, "log_history": log_history}))
    os.replace(marker, folder / MARKER)
    found = sorted((int(p.name.rsplit("-", 1)[1]), p) for p in folders.checkpoints.glob("checkpoint-*")
                   if p.name.rsplit("-", 1)[1].isdigit())
    for old_step, path in found[:-keep]:
        if old_step != step:
            shutil.rmtree(path, ignore_errors=True)
    logger.info("checkpoint at %d timesteps: %s", step, folder)
    return folder


def load_checkpoint(path: str | Path, args: RLArguments, venv: Any) -> tuple[Any, list[dict[str, Any]]]:
    """The agent of a `save_checkpoint` folder (SB3's ``load``: this run's own files), its replay buffer, its log."""
    path = Path(path)
    model = _algorithm(args.algo).load(path / MODEL_FILE, env=venv, device=_device(args))
    if (path / REPLAY_BUFFER).is_file():
        model.load_replay_buffer(path / REPLAY_BUFFER)
    state = json.loads((path / MARKER).read_text())
    return model, state["log_history"]


def train(args: RLArguments, folders: RunFolders, resume_from: str | None, progress: Any = None) -> dict[str, Any]:
    """Train (or resume), then write and publish the output folder; returns the metrics.

    `progress(timestep, total, info)` every half percent of the run and at each step that finished episodes;
    ``info``: ``stage``, ``episodes`` (so far), ``finished`` (the episodes that ended at this step: step, episode,
    return, length), ``mean_return`` (of the last 10). Returning False ends the run early and still publishes the
    folder.
    """
    import torch
    from stable_baselines3.common.env_util import make_vec_env

    started = time.perf_counter()
    total = args.total_timesteps
    hyper = hyperparameters(args)
    n_envs = int(hyper.get("n_envs", 1))
    log_history: list[dict[str, Any]] = []
    if resume_from:
        checkpoint_step = int(Path(resume_from).name.rsplit("-", 1)[1])
        # new environment seeds after a resume: the resumed episodes are not replays of the first ones
        venv = make_vec_env(args.env, n_envs=n_envs, seed=args.seed + checkpoint_step)
        model, log_history = load_checkpoint(resume_from, args, venv)
        model.set_random_seed(args.seed + checkpoint_step)
        logger.info("resuming from %s (%d of %d timesteps, %d episodes logged)", resume_from, model.num_timesteps,
                    total, len(log_history))
    else:
        venv = make_vec_env(args.env, n_envs=n_envs, seed=args.seed)
        model = make_agent(args, venv)
    first_step = int(model.num_timesteps)
    callback = _training_callback(folders, args, total, log_history, progress)
    logger.info("Training %s on %s for %d timesteps (%d environments) on %s", ALGOS[args.algo], args.env, total,
                n_envs, model.device)
    session = time.perf_counter()
    threads = torch.get_num_threads()
    torch.set_num_threads(args.num_threads)  # process-wide: restored below (the app trains in its own process)
    try:
        if model.num_timesteps < total:
            model.learn(total_timesteps=total - model.num_timesteps, callback=callback,
                        reset_num_timesteps=not resume_from, progress_bar=False)
    finally:
        torch.set_num_threads(threads)
    session_seconds = time.perf_counter() - session
    venv.close()
    if callback.stopped:
        logger.info("stopped by the progress callback at %d of %d timesteps", model.num_timesteps, total)
    return finish(args, folders, model, log_history, hyper, {
        "resumed_from": int(Path(resume_from).name.rsplit("-", 1)[1]) if resume_from else None,
        "stopped_early": callback.stopped, "train_runtime_s": round(time.perf_counter() - started, 2),
        "timesteps_per_second": round((model.num_timesteps - first_step) / session_seconds, 1)
        if session_seconds > 0 and model.num_timesteps > first_step else None})


def finish(args: RLArguments, folders: RunFolders, model: Any, log_history: list[dict[str, Any]],
           hyper: dict[str, Any], run: dict[str, Any]) -> dict[str, Any]:
    """Evaluate, write the Hub folder, the card, metrics.json and the curve into the staging folder; publish."""
    import stable_baselines3

    from pipelines.reinforcement_learning import random_returns

    staging = folders.staging
    eval_seed = args.seed + EVAL_SEED_OFFSET
    algo_class = ALGOS[args.algo]
    random = random_returns(args.env, args.eval_episodes, eval_seed)
    metrics: dict[str, Any] = {
        "algo": algo_class, "env": args.env, "timesteps": int(model.num_timesteps),
        "target_timesteps": args.total_timesteps, "episodes": len(log_history), **run,
        "device": str(model.device), "stable_baselines3": stable_baselines3.__version__,
        "replay_buffer_size": int(model.replay_buffer.size()) if getattr(model, "replay_buffer", None) else None,
        "hyperparameters": hyper,
        "random_baseline": {"mean_reward": _mean(random), "std_reward": _std(random), "episode_returns": random},
        "log_history": log_history,
    }

    def body(evaluation: dict[str, Any]) -> str:
        metrics["evaluation"] = {**evaluation, "n_eval_episodes": args.eval_episodes, "deterministic": True,
                                 "eval_seed": eval_seed}
        return card_body(metrics, args)

    sb3_hub.package(model, algo_class, args.env, staging, seed=eval_seed, n_eval_episodes=args.eval_episodes,
                    video_length=args.video_length, body=body)
    (staging / "metrics.json").write_text(json.dumps(metrics, indent=2, default=str) + "\n")
    plot_returns(log_history, staging / "training_curve.png", f"{algo_class} on {args.env}")
    publish(folders)
    if args.push_to_hub:
        sb3_hub.push_folder(folders.output, args.hub_repo, args.hub_private, f"{algo_class} on {args.env}, "
                                                                             f"trained with mmhub")
    return metrics


def _mean(values: list[float]) -> float:
    return float(sum(values) / len(values)) if values else float("nan")


def _std(values: list[float]) -> float:
    import numpy as np

    return float(np.std(values)) if values else float("nan")


def plot_returns(log_history: list[dict[str, Any]], path: Path, title: str) -> Path:
    """``training_curve.png``: each training episode's return against the timestep, and the mean of the last 10."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    steps = [e["step"] for e in log_history]
    returns = [e["return"] for e in log_history]
    if steps:
        ax.plot(steps, returns, ".", alpha=0.35, color="C0", label="episode return")
        window = [sum(returns[max(0, i - 9): i + 1]) / len(returns[max(0, i - 9): i + 1]) for i in range(len(returns))]
        ax.plot(steps, window, "-", color="C1", label="mean of the last 10")
        ax.legend(loc="lower right")
    ax.set_xlabel("timestep")
    ax.set_ylabel("return")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def card_body(metrics: dict[str, Any], args: RLArguments) -> str:
    """The card below huggingface_sb3's header: evaluation, training, use, hyperparameters."""
    evaluation = metrics["evaluation"]
    eval_seed = evaluation["eval_seed"]
    random = metrics["random_baseline"]
    where = getattr(args, "hub_repo", None) or "path/to/this/folder"
    zip_name = f"{sb3_hub.model_name(args.algo, args.env)}.zip"
    result = (f"Mean reward over {args.eval_episodes} evaluation episodes (SB3's `evaluate_policy`, deterministic "
              f"actions, first episode from `reset(seed={eval_seed})`): **{evaluation['mean_reward']:.2f} +/- "
              f"{evaluation['std_reward']:.2f}**; uniformly random actions on the same seeds: "
              f"{random['mean_reward']:.2f} +/- {random['std_reward']:.2f}.")
    stopped = " (stopped early on request)" if metrics.get("stopped_early") else ""
    return "\n".join([
        "",
        "## Evaluation",
        "",
        result,
        "",
        *(["![replay](replay.mp4)", ""] if args.video_length else []),
        "## Training",
        "",
        f"Trained with mmhub's `python -m finetune.rl` (stable-baselines3 {metrics['stable_baselines3']}): "
        f"{metrics['timesteps']} timesteps{stopped}, {metrics['episodes']} episodes, "
        f"{metrics['train_runtime_s']:.0f} s in the last session on {metrics['device']}. Hyperparameters: the RL "
        f"Zoo's for {args.env} where it has them, with the ones below.",
        "",
        "![training curve](training_curve.png)",
        "",
        "## Usage",
        "",
        "With mmhub:",
        "",
        "```python",
        "from pipelines import load",
        "",
        f'agent = load("reinforcement-learning", model="{where}")',
        f"run = agent(episodes={args.eval_episodes}, seed={eval_seed})   # the evaluation above",
        'run.returns, run.save("replay.mp4")',
        "```",
        "",
        "With stable-baselines3 and huggingface_sb3:",
        "",
        "```python",
        f"from stable_baselines3 import {metrics['algo']}",
        "from huggingface_sb3 import load_from_hub",
        "",
        f'model = {metrics["algo"]}.load(load_from_hub("{where}", "{zip_name}"))',
        "```",
        "",
        "## Hyperparameters",
        "",
        *hyperparameter_table({"algo": metrics["algo"], "env": args.env, "timesteps": metrics["target_timesteps"],
                               "seed": args.seed, **metrics["hyperparameters"]}, ensure_ascii=True),
        "",
    ])


def main(args: RLArguments, progress: Any = None) -> dict[str, Any]:
    """Check a push before anything else, then train (or resume) and publish; `progress` as in `train`."""
    args.hub_repo = None
    if args.push_to_hub:
        try:
            args.hub_repo = sb3_hub.check_push(args.hub_model_id, args.algo, args.env)
        except RuntimeError as err:
            raise UsageError(str(err)) from None

    def run(folders: RunFolders, resume_from: str | None) -> dict[str, Any]:
        with resume_hint(folders):
            return train(args, folders, resume_from, progress)

    return run_in_folders(args.output_dir, recorded_arguments(args, _RESUME_FREE), args.resume, args.overwrite, run,
                          marker=MARKER, single_process="finetune.rl", args=args)


def main_with_bar(args: RLArguments) -> dict[str, Any]:
    """`main` with a tqdm bar over the timesteps (the mean return of the last 10 episodes beside it), shown from the
    first report on (a refusal before training is one line, without a bar)."""
    from tqdm.auto import tqdm

    bars: list[Any] = []

    def progress(step: int, total: int, info: dict[str, Any]) -> None:
        if not bars:
            bars.append(tqdm(total=total, unit="step", desc=f"{ALGOS[args.algo]} {args.env}", dynamic_ncols=True,
                             file=sys.stderr))
        bar = bars[0]
        bar.update(step - bar.n)
        if info.get("mean_return") is not None:
            bar.set_postfix(episodes=info["episodes"], mean_return=f"{info['mean_return']:.1f}", refresh=False)

    try:
        return main(args, progress)
    finally:
        for bar in bars:
            bar.close()


def summary_line(metrics: dict[str, Any], output_dir: str) -> str:
    evaluation = metrics["evaluation"]
    random = metrics["random_baseline"]
    return (f"Trained {metrics['algo']} on {metrics['env']} for {metrics['timesteps']} timesteps "
            f"({metrics['episodes']} episodes, {metrics['train_runtime_s']:.1f} s): mean reward "
            f"{evaluation['mean_reward']:.2f} +/- {evaluation['std_reward']:.2f} over {evaluation['n_eval_episodes']} "
            f"episodes (random actions: {random['mean_reward']:.2f}) -> {output_dir}")


def cli(argv: list[str] | None = None) -> int:
    """Parse `argv`, run `main` with a progress bar, print the one-line summary; one-line errors otherwise."""
    return cli_main(argv, RLArguments, main_with_bar, lambda metrics, args: summary_line(metrics, args.output_dir),
                    __doc__.split("\n")[0])


if __name__ == "__main__":
    sys.exit(cli())
