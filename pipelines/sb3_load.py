"""Loading a stable-baselines3 agent folder (Hub layout, `pipelines.sb3_hub`) without unpickling what can be rebuilt.

SB3 stores some attributes of an agent as cloudpickle, code that runs when it is loaded. `load_agent` passes SB3's
``custom_objects`` (its documented way to replace them) for every one it can rebuild from the zip's readable fields
and the environment: the policy class from its recorded name (``<function ActorCriticPolicy.__init__ ...>``), the
observation and action spaces from the environment (checked against the recorded ``:type:``, ``_shape`` and
``n``), the learning schedules as constants (only training calls them; the Deep RL course loads Hub agents with
``custom_objects={"learning_rate": 0.0, "lr_schedule": lambda _: 0.0, "clip_range": lambda _: 0.0}``),
``policy_kwargs`` from its literals (activation functions by their torch.nn name), the buffer classes and run state
as SB3's defaults. Anything else is unpickled by SB3 only with ``trust_remote_code=True``; so is the RL Zoo's
``vec_normalize.pkl``. The weights are read by SB3 itself with ``torch.load(..., weights_only=True)``.

>>> from pipelines import sb3_load
>>> files, card = sb3_load.resolve_files("runs/rl")          # or a Hub id: hf_hub_download, as huggingface_sb3
>>> agent = sb3_load.load_agent(files.agent_zip, "PPO", env.observation_space, env.action_space)
"""

from __future__ import annotations

import ast
import dataclasses
import json
import logging
import re
import zipfile
from pathlib import Path
from typing import Any

from pipelines import sb3_hub
from pipelines.base import is_local_path
from pipelines.errors import ModelLoadError

logger = logging.getLogger(__name__)

#: The algorithms mmhub plays (stable-baselines3's own; sb3-contrib's QR-DQN, TQC... are not installed).
ALGORITHMS = {"PPO": "stable_baselines3:PPO", "A2C": "stable_baselines3:A2C", "DQN": "stable_baselines3:DQN"}

# SB3 attributes stored as cloudpickle that mmhub rebuilds without unpickling (see the module docstring).
_SCHEDULES = ("lr_schedule", "learning_rate", "clip_range", "clip_range_vf", "exploration_schedule", "ent_coef")
_RUN_STATE = ("_last_obs", "_last_episode_starts", "_last_original_obs", "ep_info_buffer", "ep_success_buffer",
              "action_noise", "env")
_BUFFERS = ("rollout_buffer_class", "replay_buffer_class")
# Activation functions a policy_kwargs may name (torch.nn classes, by name).
_ACTIVATIONS = ("ReLU", "Tanh", "ELU", "LeakyReLU", "GELU", "SiLU", "Sigmoid", "Identity", "Softplus", "SELU")


def zero_schedule(_progress_remaining: float) -> float:
    """A constant-zero learning schedule: the course's replacement for a Hub agent's pickled schedules (playing
    never calls them)."""
    return 0.0


def _recorded_shape(item: dict[str, Any]) -> tuple[int, ...] | None:
    text = item.get("_shape") or item.get("shape")
    if not isinstance(text, str):
        return None
    return tuple(int(n) for n in re.findall(r"-?\d+", text))


def check_recorded_space(item: Any, space: Any) -> str | None:
    """Why the space a zip records (its readable ``:type:``, ``_shape``, ``n`` fields) differs from `space`; None if
    they agree (or the zip records nothing readable)."""
    if not isinstance(item, dict):
        return None
    recorded_type = re.search(r"\.(\w+)'>", str(item.get(":type:", "")))
    kind = recorded_type.group(1) if recorded_type else None
    if kind is not None and kind != type(space).__name__:
        return f"a {kind}, not a {type(space).__name__}"
    shape = _recorded_shape(item)
    if shape is not None and tuple(space.shape) != shape:
        return f"of shape {shape}, not {tuple(space.shape)}"
    if kind == "Discrete" and str(item.get("n", "")).strip().isdigit() and int(item["n"]) != int(space.n):
        return f"Discrete({int(item['n'])}), not Discrete({int(space.n)})"
    return None


def _algorithm(name: str) -> type:
    import importlib

    module, attribute = ALGORITHMS[name].split(":")
    return getattr(importlib.import_module(module), attribute)


def read_agent_data(agent_zip: Path, model: str) -> dict[str, Any]:
    """The ``data`` JSON of an SB3 zip (`ModelLoadError` ``incompatible`` for a corrupt or foreign file)."""
    try:
        with zipfile.ZipFile(agent_zip) as archive:
            names = set(archive.namelist())
            if "data" not in names or "policy.pth" not in names:
                raise ModelLoadError(model, "wrong_task", f"{agent_zip.name} is a zip, but not a stable-baselines3 "
                                                          f"agent (no data / policy.pth inside).")
            data = json.loads(archive.read("data"))
    except ModelLoadError:
        raise
    except (zipfile.BadZipFile, OSError, ValueError, UnicodeDecodeError, EOFError) as err:
        raise ModelLoadError(model, "incompatible", f"{agent_zip.name} is not a readable stable-baselines3 save "
                                                    f"({type(err).__name__}: {err}).") from None
    if not isinstance(data, dict):
        raise ModelLoadError(model, "incompatible", f"{agent_zip.name}'s data is not a JSON object.")
    return data


def _policy_class(algo: type, item: dict[str, Any]) -> type | None:
    """The SB3 policy class a zip names in its readable fields (``<function ActorCriticPolicy.__init__ ...>``)."""
    names = {match.group(1) for value in item.values() if isinstance(value, str)
             for match in [re.match(r"<function (\w+)\.__init__ ", value)] if match}
    module = item.get("__module__")
    for cls in dict.fromkeys(algo.policy_aliases.values()):
        if cls.__name__ in names and (module is None or module == cls.__module__):
            return cls
    return None


def _policy_kwargs(item: dict[str, Any]) -> dict[str, Any] | None:
    """A pickled ``policy_kwargs`` rebuilt from its readable fields (literals, and activation classes by name)."""
    import torch

    out: dict[str, Any] = {}
    for key, text in item.items():
        if key.startswith(":"):
            continue
        if not isinstance(text, str):
            return None
        activation = re.fullmatch(r"<class 'torch\.nn\.modules\.\w+\.(\w+)'>", text)
        if activation and activation.group(1) in _ACTIVATIONS:
            out[key] = getattr(torch.nn, activation.group(1))
            continue
        try:
            out[key] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            return None
    return out


def safe_custom_objects(data: dict[str, Any], algo: type, observation_space: Any, action_space: Any,
                        trust_remote_code: bool, model: str) -> dict[str, Any]:
    """``custom_objects`` for ``algo.load`` that replace every pickled attribute mmhub can rebuild (see the module
    docstring); the others are left to SB3 with `trust_remote_code`, else refused."""
    from stable_baselines3.common.type_aliases import TrainFreq, TrainFrequencyUnit

    custom: dict[str, Any] = {}
    refused = []
    for key, item in data.items():
        if not (isinstance(item, dict) and ":serialized:" in item):
            continue
        value: Any = None
        if key == "policy_class":
            value = _policy_class(algo, item)
        elif key == "observation_space":
            value = observation_space
        elif key == "action_space":
            value = action_space
        elif key in _SCHEDULES:
            value = zero_schedule
        elif key == "train_freq":
            value = TrainFreq(1, TrainFrequencyUnit.STEP)
        elif key == "policy_kwargs":
            value = _policy_kwargs(item)
        elif key in _RUN_STATE or key in _BUFFERS:
            custom[key] = None
            continue
        if value is None:
            refused.append(key)
        else:
            custom[key] = value
    if refused and not trust_remote_code:
        raise ModelLoadError(model, "incompatible", f"the agent stores {', '.join(refused)} as pickled Python, which "
                                                    f"can run code when loaded and which mmhub cannot rebuild. If "
                                                    f"you trust {model!r}, load it with trust_remote_code=True.")
    return custom


def load_agent(agent_zip: Path, algo_name: str, observation_space: Any, action_space: Any, *,
               trust_remote_code: bool = False, device: str = "cpu", model: str = "") -> Any:
    """An SB3 agent from its zip, without unpickling what mmhub can rebuild (`safe_custom_objects`)."""
    model = model or str(agent_zip)
    data = read_agent_data(agent_zip, model)
    algo = _algorithm(algo_name)
    module = (data.get("policy_class") or {}).get("__module__") if isinstance(data.get("policy_class"), dict) else None
    expected = "stable_baselines3.dqn.policies" if algo_name == "DQN" else "stable_baselines3.common.policies"
    if module is not None and module.startswith("stable_baselines3.") and module != expected:
        raise ModelLoadError(model, "incompatible", f"its card says {algo_name}, but the zip holds a policy of "
                                                    f"{module} (another algorithm).")
    for key, space in (("observation_space", observation_space), ("action_space", action_space)):
        problem = check_recorded_space(data.get(key), space)
        if problem is not None:
            raise SpaceMismatch(key, problem)
    custom = safe_custom_objects(data, algo, observation_space, action_space, trust_remote_code, model)
    extra: dict[str, Any] = {}
    if algo_name == "DQN":  # the Zoo's enjoy.py: "Dummy buffer size as we don't need memory to enjoy the agent"
        extra = {"buffer_size": 1, "optimize_memory_usage": False}
    try:
        return algo.load(agent_zip, device=device, custom_objects=custom, **extra)
    except (KeyError, ValueError, RuntimeError, AssertionError, zipfile.BadZipFile, EOFError, TypeError) as err:
        raise ModelLoadError(model, "incompatible", f"stable-baselines3 could not load {agent_zip.name} "
                                                    f"({type(err).__name__}: {err}).") from None


class SpaceMismatch(Exception):
    """The zip records another space than the environment has (`key`, and how they differ)."""

    def __init__(self, key: str, problem: str):
        self.key, self.problem = key, problem
        super().__init__(f"{key}: {problem}")


@dataclasses.dataclass
class AgentFiles:
    """Where an agent's files are: the zip, the card (None when absent) and the optional Zoo files."""

    agent_zip: Path
    card: Path | None
    vec_normalize: Path | None = None
    env_kwargs: Path | None = None
    zoo_config: Path | None = None


def _zip_candidates(model: str, card: sb3_hub.CardInfo) -> list[str]:
    names = [f"{Path(model.rstrip('/')).name}.zip"]
    if card.algo and card.env_id:
        names.append(f"{sb3_hub.model_name(card.algo.lower(), card.env_id)}.zip")
    return list(dict.fromkeys(names))


def resolve_files(model: str, revision: str | None = None) -> tuple[AgentFiles, sb3_hub.CardInfo]:
    """The agent's files, from a local folder or the Hub (``hf_hub_download``, as ``huggingface_sb3.load_from_hub``),
    and what its card says."""
    if is_local_path(model):
        folder = Path(model).expanduser()
        card_path = folder / sb3_hub.CARD
        card = sb3_hub.read_card(card_path) if card_path.is_file() else sb3_hub.CardInfo(None, None)
        zips = sorted(folder.glob("*.zip"))
        if not zips:
            raise ModelLoadError(model, "wrong_task", "this folder holds no stable-baselines3 agent (no .zip saved by "
                                                      "model.save); it is not a reinforcement-learning model.")
        by_name = {p.name: p for p in zips}
        chosen = next((by_name[n] for n in _zip_candidates(str(folder), card) if n in by_name), None)
        if chosen is None:
            if len(zips) > 1:
                raise ModelLoadError(model, "incompatible", f"several zips and none named as the Hub convention "
                                                            f"expects ({', '.join(p.name for p in zips)}).")
            chosen = zips[0]
        optional = {name: folder / name if (folder / name).is_file() else None
                    for name in (sb3_hub.VEC_NORMALIZE, sb3_hub.ENV_KWARGS, sb3_hub.ZOO_CONFIG)}
        return AgentFiles(chosen, card_path if card_path.is_file() else None, optional[sb3_hub.VEC_NORMALIZE],
                          optional[sb3_hub.ENV_KWARGS], optional[sb3_hub.ZOO_CONFIG]), card
    from huggingface_hub import HfApi, hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError

    def download(name: str) -> Path:
        return Path(hf_hub_download(model, name, revision=revision, library_name="mmhub"))

    def optional(name: str) -> Path | None:
        try:
            return download(name)
        except EntryNotFoundError:
            return None

    card_path = download(sb3_hub.CARD)  # offline or unknown: the first download says so (translating_load_errors)
    card = sb3_hub.read_card(card_path)
    agent_zip = None
    for name in _zip_candidates(model, card):
        agent_zip = optional(name)
        if agent_zip is not None:
            break
    if agent_zip is None:
        zips = [f for f in HfApi().list_repo_files(model, revision=revision) if f.endswith(".zip") and "/" not in f]
        if len(zips) != 1:
            raise ModelLoadError(model, "wrong_task" if not zips else "incompatible",
                                 "no stable-baselines3 agent (.zip) in the repository" if not zips
                                 else f"several zips, none named as the Hub convention expects: {zips}")
        agent_zip = download(zips[0])
    return AgentFiles(agent_zip, card_path, optional(sb3_hub.VEC_NORMALIZE), optional(sb3_hub.ENV_KWARGS),
                      optional(sb3_hub.ZOO_CONFIG)), card


def algo_name(card: sb3_hub.CardInfo, agent_zip: Path, model: str) -> str:
    """The algorithm: the card's ``model-index`` name, else the zip's ``{algo}-`` prefix (``ModelName``)."""
    for candidate in (card.algo, agent_zip.stem.split("-", 1)[0]):
        if candidate and candidate.upper() in ALGORITHMS:
            return candidate.upper()
    named = card.algo or agent_zip.stem.split("-", 1)[0]
    raise ModelLoadError(model, "incompatible", f"its algorithm {named!r} is not one mmhub plays "
                                                f"({', '.join(ALGORITHMS)}; sb3-contrib's are not installed).")


def read_env_kwargs(path: Path | None, model: str) -> dict[str, Any]:
    """The Zoo's ``env_kwargs.yml`` (plain YAML only), or {}."""
    if path is None:
        return {}
    import yaml

    try:
        value = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, OSError, UnicodeDecodeError) as err:
        raise ModelLoadError(model, "incompatible", f"its {sb3_hub.ENV_KWARGS} is not plain YAML ({err}).") from None
    if not isinstance(value, dict):
        raise ModelLoadError(model, "incompatible", f"its {sb3_hub.ENV_KWARGS} is not a mapping.")
    return {k: v for k, v in value.items() if k != "render_mode"}


def check_zoo_wrappers(path: Path | None, model: str) -> None:
    """Refuse an agent the Zoo trained behind wrappers (Atari preprocessing, frame stacks, ...): played on the bare
    environment it would see other observations."""
    if path is None:
        return
    text = path.read_text(encoding="utf-8", errors="replace")
    found = sorted(set(re.findall(r"\b(env_wrapper|frame_stack)\b", text)))
    if found:
        raise ModelLoadError(model, "incompatible", f"the RL Zoo trained it behind {' and '.join(found)} "
                                                    f"({sb3_hub.ZOO_CONFIG}); mmhub plays agents on the bare "
                                                    f"environment only.")


def load_vec_normalize(path: Path, probe: Any, trust_remote_code: bool, model: str) -> Any:
    """The Zoo's observation normalisation (``VecNormalize.load``, a pickle): only with `trust_remote_code`."""
    if not trust_remote_code:
        raise ModelLoadError(model, "incompatible", f"the agent normalises its observations with {path.name}, a "
                                                    f"pickled VecNormalize (pickles can run code). If you trust "
                                                    f"{model!r}, load it with trust_remote_code=True.")
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    from pipelines.reinforcement_learning import make_env

    spec_id = probe.spec.id if probe.spec is not None else None
    venv = DummyVecEnv([lambda: make_env(spec_id)])
    try:
        normalize = VecNormalize.load(str(path), venv)
    except Exception as err:  # noqa: BLE001 - any unpickling failure
        raise ModelLoadError(model, "incompatible", f"{path.name} could not be loaded ({type(err).__name__}: "
                                                    f"{err}).") from None
    normalize.training, normalize.norm_reward = False, False  # as huggingface_sb3 / the Zoo use it at test time
    return normalize


__all__ = ["ALGORITHMS", "AgentFiles", "SpaceMismatch", "algo_name", "check_recorded_space", "check_zoo_wrappers",
           "load_agent", "load_vec_normalize", "read_agent_data", "read_env_kwargs", "resolve_files",
           "safe_custom_objects", "zero_schedule"]
