"""`python -m finetune.rl`: a short PPO run beats random actions on CartPole and its card's figures reproduce through
`load()`; a DQN run killed with SIGKILL resumes (agent, replay buffer, episode log) to the same end; bad flags are
one-line errors, and --push-to-hub offline fails before anything is trained."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from finetune import rl
from finetune.run import RunFolders
from pipelines import load, sb3_hub

from .conftest import kill_after_first_checkpoint

# DQN settings that make a run of a few seconds with several checkpoints (it learns little; the resume is the point)
FAST_DQN = json.dumps({"learning_starts": 200, "train_freq": 64, "gradient_steps": 8, "buffer_size": 5000,
                       "policy_kwargs": {"net_arch": [32]}})


@pytest.fixture(scope="module")
def ppo_run(tmp_path_factory):
    """PPO with the RL Zoo's CartPole hyperparameters for 4096 steps (seed 0): seconds on one thread."""
    output = tmp_path_factory.mktemp("rl") / "ppo"
    reports = []
    args = rl.RLArguments(algo="ppo", env="CartPole-v1", timesteps=4096, seed=0, output_dir=str(output),
                          save_steps=2048, video_length=40)
    metrics = rl.main(args, progress=lambda step, total, info: reports.append((step, total, info)))
    return output, metrics, reports


def test_a_short_ppo_run_beats_random_actions(ppo_run):
    output, metrics, reports = ppo_run
    trained, random = metrics["evaluation"], metrics["random_baseline"]
    # uniformly random actions balance the pole ~20 steps; 4096 PPO steps (seed 0) reach ~80 on the same seeds
    assert trained["mean_reward"] > 2 * random["mean_reward"] and trained["mean_reward"] > random["mean_reward"] + 30
    assert metrics["timesteps"] == 4096 and metrics["hyperparameters"]["n_steps"] == 32  # the Zoo's for CartPole
    steps = [step for step, _, _ in reports]
    assert steps == sorted(steps) and steps[-1] == 4096 and {total for _, total, _ in reports} == {4096}
    reported = [episode for _, _, info in reports for episode in info["finished"]]
    assert reported == metrics["log_history"]  # every finished episode reported once, 8 environments at a time
    log = metrics["log_history"]
    assert [e["episode"] for e in log] == list(range(1, len(log) + 1)) and metrics["episodes"] == len(log)
    assert sum(e["length"] for e in log) <= 4096 and log[-1]["return"] > log[0]["return"] / 2


def test_the_card_and_folder_follow_the_hub_layout_and_reproduce_through_load(ppo_run):
    import imageio.v2 as imageio

    output, metrics, _ = ppo_run
    assert {p.name for p in output.iterdir()} == {"ppo-CartPole-v1.zip", "README.md", "config.json", "results.json",
                                                  "replay.mp4", "metrics.json", "training_curve.png"}
    evaluation = metrics["evaluation"]
    results = json.loads((output / "results.json").read_text())
    assert results["mean_reward"] == evaluation["mean_reward"] and results["n_eval_episodes"] == 10
    card = (output / "README.md").read_text()
    figure = f"{evaluation['mean_reward']:.2f} +/- {evaluation['std_reward']:.2f}"
    assert sb3_hub.read_card(output / "README.md") == sb3_hub.CardInfo("PPO", "CartPole-v1", figure,
                                                                        "stable-baselines3")
    assert f"**{figure}**" in card and "# **PPO** Agent playing **CartPole-v1**" in card
    assert f"seed={evaluation['eval_seed']}" in card and "| `n_steps` | `32` |" in card
    agent = load("reinforcement-learning", model=str(output))  # the trained folder, through the Hub path
    replay = agent(episodes=10, seed=evaluation["eval_seed"], record=0)
    assert replay.returns == evaluation["episode_returns"]  # the card's 10 episodes, played again
    assert len(imageio.mimread(output / "replay.mp4", memtest=False)) == 40
    assert json.loads((output / "metrics.json").read_text())["evaluation"] == evaluation


def test_a_killed_dqn_run_resumes_with_its_replay_buffer_and_log(tmp_path):
    output = tmp_path / "dqn"
    argv = ["--algo", "dqn", "--env", "CartPole-v1", "--timesteps", "1500", "--save-steps", "300", "--seed", "1",
            "--video-length", "0", "--eval-episodes", "3", "--output-dir", str(output), "--hyperparams", FAST_DQN]
    folders = RunFolders(output.resolve(), rl.MARKER)
    status = kill_after_first_checkpoint("finetune.rl", argv, folders)
    assert status == -9 and not output.exists()  # killed mid-run: no output folder, a checkpoint to resume
    checkpoint = Path(folders.last_checkpoint())
    saved = json.loads((checkpoint / rl.MARKER).read_text())
    assert (checkpoint / rl.REPLAY_BUFFER).is_file() and saved["global_step"] >= 300
    assert rl.cli([*argv, "--resume"]) == 0
    metrics = json.loads((output / "metrics.json").read_text())
    resumed_at = metrics["resumed_from"]
    assert resumed_at == saved["global_step"] and resumed_at % 64 == 0  # a rollout boundary
    assert metrics["timesteps"] == 1536  # 24 rollouts of train_freq 64, as an uninterrupted run ends
    assert metrics["replay_buffer_size"] == 1536  # the checkpoint's transitions were restored, then added to
    log = metrics["log_history"]
    assert [e["episode"] for e in log] == list(range(1, len(log) + 1))  # nothing lost or doubled
    assert [e["step"] for e in log] == sorted(e["step"] for e in log)
    assert [e for e in log if e["step"] <= resumed_at] == saved["log_history"]  # the checkpoint's, then new ones
    agent = load("reinforcement-learning", model=str(output))
    assert agent.algo == "DQN" and agent(episodes=2, seed=0, record=0).returns


@pytest.mark.parametrize(("argv", "message"), [
    (["--env", "Nope-v0"], "--env"),
    (["--env", "LunarLander-v2"], "LunarLander-v3"),
    (["--algo", "sac"], "--algo"),
    (["--algo", "dqn", "--env", "Pendulum-v1"], "discrete actions"),
    (["--timesteps", "0"], "--timesteps"),
    (["--timesteps", "nan"], "--timesteps"),
    (["--timesteps", "1000000000"], "--timesteps"),
    (["--seed", "-1"], "--seed"),
    (["--eval-episodes", "0"], "--eval-episodes"),
    (["--save-steps", "0"], "--save-steps"),
    (["--video-length", "-5"], "--video-length"),
    (["--hyperparams", '{"learning_rat": 0.1}'], "did you mean 'learning_rate'"),
    (["--hyperparams", "[1, 2]"], "JSON object"),
    (["--hyperparams", '{"gamma": NaN}'], "NaN"),
    (["--hyperparams", "{not json"], "JSON object"),
    (["--hyperparams", '{"n_envs": 0}'], "n_envs"),
    (["--hyperparams", '{"learning_rate": "fast"}'], "refused these hyperparameters"),
    (["--hyperparams", '{"policy_kwargs": {"activation_fn": "Swish"}}'], "activation_fn"),
    (["--resume", "--overwrite"], "contradict"),
    (["--device", "cuda:7"], "--device"),
    (["--num-threads", "0"], "--num-threads"),
])
def test_bad_flags_are_one_line_errors(tmp_path, capsys, argv, message):
    output = tmp_path / "out"
    assert rl.cli([*argv, "--timesteps", "64", "--output-dir", str(output)] if "--timesteps" not in argv
                  else [*argv, "--output-dir", str(output)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and len(err.strip().splitlines()) == 1
    assert not output.exists() and not output.with_name("out.partial").exists()


def test_push_to_hub_offline_fails_before_training(tmp_path, capsys, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    output = tmp_path / "pushed"
    assert rl.cli(["--timesteps", "64", "--output-dir", str(output), "--push-to-hub"]) == 2
    err = capsys.readouterr().err
    assert "--push-to-hub" in err and "HF_HUB_OFFLINE" in err
    assert not output.exists() and not output.with_name("pushed.partial").exists()  # nothing trained


def test_zoo_schedules_and_overrides():
    args = rl.RLArguments(algo="ppo", env="CartPole-v1", hyperparams='{"n_envs": 4, "clip_range": "lin_0.1"}')
    hyper = rl.hyperparameters(args)
    assert hyper["n_envs"] == 4 and hyper["learning_rate"] == "lin_0.001" and args.total_timesteps == 100_000
    kwargs = rl.algorithm_kwargs(hyper)
    assert kwargs["learning_rate"](1.0) == pytest.approx(0.001) and kwargs["learning_rate"](0.25) == \
        pytest.approx(0.00025) and kwargs["clip_range"](0.5) == pytest.approx(0.05)  # the Zoo's linear_schedule
    assert rl.RLArguments(algo="dqn", env="CartPole-v1").total_timesteps == 50_000
    assert rl.RLArguments(algo="ppo", env="Pendulum-v1").total_timesteps == rl.DEFAULT_TIMESTEPS  # no Zoo entry
    assert rl.RLArguments(algo="PPO").output_dir == str(Path("runs") / "ppo-CartPole-v1")
