"""mmhub's episode player vs stable-baselines3's own ``evaluate_policy`` on the same agent, environment and seed.

    python -m benchmarks.reinforcement_learning [--quick] [--episodes 20]

For each environment, a PPO agent of SB3's default ``MlpPolicy`` geometry (two hidden layers of 64, untrained,
seeded) is saved in the Hub layout and loaded through ``load("reinforcement-learning", model=folder)``. Compared,
round-robin (median of repeats):

- ``agent(episodes=N, seed=0, record=0)``: mmhub's loop (validation, one ``gymnasium.make``, ``model.predict`` per
  step on one observation, per-step rewards kept);
- ``evaluate_policy(model, DummyVecEnv([Monitor(env)]), N, deterministic=True)`` seeded the same way: the same N
  episodes (the benchmark checks the returns agree), SB3's batched loop.

Also printed: mmhub with the first episode filmed (``record=1``: ``env.render()`` after every step), the price of
the video. Target: the unfilmed ratio <= 1.05x (mmhub's loop is no slower than SB3's).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from benchmarks.common import compare, parser, print_table

ENVIRONMENTS = ("CartPole-v1", "LunarLander-v3")


def agent_folder(env_id: str, folder: Path) -> Path:
    """An untrained PPO (SB3's default MlpPolicy, seed 0) in the Hub layout, without replay video."""
    from stable_baselines3 import PPO

    from pipelines import sb3_hub

    sb3_hub.package(PPO("MlpPolicy", env_id, seed=0, device="cpu"), "PPO", env_id, folder, n_eval_episodes=1,
                    video_length=0)
    return folder


def sb3_returns(model, env_id: str, episodes: int, seed: int) -> list[float]:
    """SB3's own evaluation: a seeded ``DummyVecEnv`` of a ``Monitor``-wrapped environment."""
    import gymnasium as gym
    from stable_baselines3.common.evaluation import evaluate_policy
    from stable_baselines3.common.monitor import Monitor
    from stable_baselines3.common.vec_env import DummyVecEnv

    env = DummyVecEnv([lambda: Monitor(gym.make(env_id))])
    env.seed(seed)
    returns, _ = evaluate_policy(model, env, n_eval_episodes=episodes, deterministic=True,
                                 return_episode_rewards=True)
    env.close()
    return [float(r) for r in returns]


def run(env_id: str, episodes: int, repeat: int) -> None:
    import torch

    from pipelines import load

    torch.set_num_threads(1)  # one observation per step: threads only add overhead (both sides alike)
    with tempfile.TemporaryDirectory() as tmp:
        agent = load("reinforcement-learning", model=str(agent_folder(env_id, Path(tmp) / "agent")))
        ours = agent(episodes=episodes, seed=0, record=0)
        theirs = sb3_returns(agent.agent, env_id, episodes, 0)
        steps = sum(ours.lengths)
        rows = compare({
            f"mmhub agent(episodes={episodes}, record=0)": lambda: agent(episodes=episodes, seed=0, record=0),
            "SB3 evaluate_policy (DummyVecEnv + Monitor)": lambda: sb3_returns(agent.agent, env_id, episodes, 0),
            "mmhub, the first episode filmed": lambda: agent(episodes=episodes, seed=0, record=1, max_frames=10_000),
        }, repeat=repeat)
        print_table(f"{env_id}: {episodes} episodes, {steps} steps, untrained PPO MlpPolicy [64, 64], cpu", rows,
                    baseline="SB3 evaluate_policy (DummyVecEnv + Monitor)")
        frames = agent(episodes=1, seed=0, record=1, max_frames=10_000).frames
        same = bool(np.allclose(ours.returns, theirs, rtol=0, atol=1e-5))  # Monitor rounds returns to 6 decimals
        print(f"  same returns as evaluate_policy: {same}; mmhub "
              f"{steps / rows[0][1]:,.0f} steps/s, SB3 {steps / rows[1][1]:,.0f} steps/s; the filmed episode: "
              f"{len(frames)} frames of {frames.shape[2]}x{frames.shape[1]}")


def main(argv: list[str] | None = None) -> None:
    p = parser(__doc__.split("\n")[0])
    p.add_argument("--episodes", type=int, default=20, help="episodes per call")
    args = p.parse_args(argv)
    for env_id in ENVIRONMENTS:
        run(env_id, 5 if args.quick else args.episodes, 2 if args.quick else 5)


if __name__ == "__main__":
    main()
