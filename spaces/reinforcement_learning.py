"""Reinforcement learning Space: watch an agent from the Hub play, and train one yourself, before and after.

    python -m spaces.reinforcement_learning                  # sb3/ppo-CartPole-v1 & co. (needs the Hub once)
    python -m spaces.reinforcement_learning --models tiny    # offline: an untrained tiny PPO; live training works

"Watch an agent" plays seeded episodes of an agent (`pipelines.reinforcement_learning`): the video of the first, the
return and length of each, and the reward of every step. "Train it now" trains PPO or DQN
(`python -m finetune.rl`'s loop) on a Gymnasium environment: the untrained agent plays first, then the reward curve
grows live as episodes finish, then the trained agent plays the same seeded episodes, side by side with the
untrained one. Stop ends the training early and keeps the agent as it is. The trained agent is saved where
``local:reinforcement-learning`` points (with ``--models tiny``: in the tiny-model cache) and "Watch an agent" can
play it.

API (gradio_client): ``/rl_play`` (model, episodes, seed, deterministic) -> video, returns table, reward curve,
summary; ``/rl_train`` (algorithm, environment, timesteps, seed, replace) -> streamed: before video, before summary,
curve, status, after video, after summary, model. Outside ``--models tiny`` a trained agent already in the folder is
replaced only when "Replace the trained model" (``replace``, default False) is ticked.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import gradio as gr

from .common import (
    KEEP,
    Context,
    Run,
    SpaceSpec,
    draw_seed,
    parse_seed,
    request_folder,
    run_controls,
    seed_input,
    whole,
)
from .inside import ERROR_TEXTS, refuse_replacing, replace_checkbox

logger = logging.getLogger(__name__)

TASK = "reinforcement-learning"
LOCAL = "local:reinforcement-learning"
ALGOS = ("ppo", "dqn")
MAX_EPISODES = 20
MAX_TIMESTEPS = 300_000  # the Space's bound (the CLI allows 1e8): PPO solves CartPole in about 1e5
MIN_TIMESTEPS = 256
SIDE_BY_SIDE_EPISODES = 3  # the before / after comparison: this many seeded episodes each
MAX_FRAMES = 600  # frames filmed per video here (a CartPole frame is 0.7 MB in memory)
CURVE_EVERY_S = 0.5  # the live curve is redrawn at most this often

TEXTS = {
    "en": {
        "explain": "In **reinforcement learning** an *agent* acts in an *environment*: it sees an observation, picks "
                   "an action, and gets a **reward**. An *episode* runs until the task ends or fails; its **return** "
                   "is the sum of its rewards, and learning means finding a policy with a higher return. In "
                   "**CartPole** the agent pushes a cart left or right to keep a pole upright, +1 for every step "
                   "it stays up (500 at most). The agents here are [stable-baselines3](https://github.com/DLR-RM/"
                   "stable-baselines3) models, as in Hugging Face's Deep RL course; the environments are "
                   "[Gymnasium](https://gymnasium.farama.org)'s.",
        "play_tab": "Watch an agent", "train_tab": "Train it now",
        "episodes": "Episodes", "deterministic": "Deterministic actions (the policy's most likely one)",
        "play": "Play", "video": "The first episode", "returns": "Each episode",
        "episode": "episode", "return": "return", "length": "steps", "step": "step", "so_far": "return so far",
        "curve": "Reward collected, step by step", "timestep": "timestep", "series": "curve",
        "summary": "**{algo}** on **{env}** · seed {seed} · mean return **{mean:.1f}** ± {std:.1f} over {n} "
                   "episode(s){cut}",
        "cut": " · video cut at {frames} frames",
        "tiny_note": "⚠️ The tiny stand-in is an **untrained** policy: expect short episodes.",
        "train_explain": "Pick an algorithm and an environment and press **Train**. First the *untrained* agent plays "
                         "{n} episodes; then the curve shows the return of every training episode as it finishes "
                         "(and the mean of the last 10); at the end the *trained* agent plays the same {n} seeded "
                         "episodes. **PPO** learns from batches of recent experience; **DQN** learns the value of "
                         "each action from a replay memory. The hyperparameters are the RL Zoo's for the "
                         "environment.",
        "algo": "Algorithm", "env": "Environment", "timesteps": "Training steps",
        "train": "Train", "before": "Before training (random weights)",
        "after": "After training", "live_curve": "Training: the return of each episode",
        "episode_return": "episode return", "mean10": "mean of the last 10",
        "playing_before": "The untrained agent plays…",
        "training": "Step {step:,} of {total:,} · {episodes} episodes · mean return of the last 10: {mean}",
        "playing_after": "Trained. The trained agent plays the same episodes…",
        "done": "✅ {algo} trained on {env} for {steps:,} steps ({episodes} episodes, {seconds:.1f} s){stopped}. "
                "Evaluation (10 episodes): **{mean:.1f}** ± {std:.1f}; random actions: {random:.1f}. Saved to "
                "`{folder}`; *Watch an agent* can play it.",
        "stopped": ", stopped early",
        "playing": "Playing: episode {step} of {total}, return {value}",
        "episodes_played": "{count} episode|{count} episodes", "saved": "the agent is saved",
        "train_failed": "Training failed: {error}",
        "no_video": "no video", "trained_here": "trained here",
    },
    "pl": {
        "explain": "W **uczeniu ze wzmocnieniem** *agent* działa w *środowisku*: widzi obserwację, wybiera akcję i "
                   "dostaje **nagrodę**. *Epizod* trwa, aż zadanie się skończy albo nie uda; jego **zwrot** to suma "
                   "nagród, a uczenie to szukanie strategii o wyższym zwrocie. W **CartPole** agent przesuwa wózek "
                   "w lewo lub w prawo, by utrzymać pionowo drążek: +1 za każdy krok, w którym drążek stoi (najwyżej "
                   "500). Agenci to modele [stable-baselines3](https://github.com/DLR-RM/stable-baselines3), jak w "
                   "kursie Deep RL Hugging Face; środowiska pochodzą z [Gymnasium](https://gymnasium.farama.org).",
        "play_tab": "Obejrzyj agenta", "train_tab": "Wytrenuj teraz",
        "episodes": "Epizody", "deterministic": "Akcje deterministyczne (najbardziej prawdopodobna według strategii)",
        "play": "Graj", "video": "Pierwszy epizod", "returns": "Każdy epizod",
        "episode": "epizod", "return": "zwrot", "length": "kroki", "step": "krok", "so_far": "zwrot dotąd",
        "curve": "Zebrana nagroda, krok po kroku", "timestep": "krok czasowy", "series": "krzywa",
        "summary": "**{algo}** w **{env}** · ziarno {seed} · średni zwrot **{mean:.1f}** ± {std:.1f} z {n} "
                   "epizodów{cut}",
        "cut": " · wideo ucięte po {frames} klatkach",
        "tiny_note": "⚠️ Mały model zastępczy to **niewytrenowana** strategia: epizody będą krótkie.",
        "train_explain": "Wybierz algorytm i środowisko i naciśnij **Trenuj**. Najpierw *niewytrenowany* agent gra "
                         "{n} epizody; potem wykres pokazuje zwrot każdego epizodu treningu, gdy się kończy (i "
                         "średnią z ostatnich 10); na końcu *wytrenowany* agent gra te same {n} epizody z tym samym "
                         "ziarnem. "
                         "**PPO** uczy się z partii świeżych doświadczeń; **DQN** uczy się wartości każdej akcji z "
                         "pamięci powtórek. Hiperparametry pochodzą z RL Zoo dla danego środowiska.",
        "algo": "Algorytm", "env": "Środowisko", "timesteps": "Kroki treningu",
        "train": "Trenuj", "before": "Przed treningiem (losowe wagi)",
        "after": "Po treningu", "live_curve": "Trening: zwrot każdego epizodu",
        "episode_return": "zwrot epizodu", "mean10": "średnia z ostatnich 10",
        "playing_before": "Gra niewytrenowany agent…",
        "training": "Krok {step:,} z {total:,} · epizodów: {episodes} · średni zwrot z ostatnich 10: {mean}",
        "playing_after": "Wytrenowano. Wytrenowany agent gra te same epizody…",
        "done": "✅ {algo} wytrenowany w {env}: {steps:,} kroków (epizodów: {episodes}, {seconds:.1f} s){stopped}. "
                "Ocena (10 epizodów): **{mean:.1f}** ± {std:.1f}; losowe akcje: {random:.1f}. Zapisano w "
                "`{folder}`; zakładka *Obejrzyj agenta* może go odtworzyć.",
        "stopped": ", zatrzymano wcześniej",
        "playing": "Gra: epizod {step} z {total}, zwrot {value}",
        "episodes_played": "{count} epizod|{count} epizody|{count} epizodów", "saved": "agent jest zapisany",
        "train_failed": "Trening nie powiódł się: {error}",
        "no_video": "brak wideo", "trained_here": "wytrenowany tutaj",
    },
}


def live_target(ctx: Context) -> str:
    """Where live training writes: ``local:reinforcement-learning``; with tiny models the tiny cache."""
    from pipelines import lab, tiny

    return str(tiny.cache_dir() / "rl-live") if ctx.tiny else lab.resolve(LOCAL)


def trained_agent(folder: str) -> bool:
    """True when `folder` holds a saved agent: the SB3 zip that loading looks for (`pipelines.sb3_load`)."""
    from pathlib import Path

    return any(Path(folder).expanduser().glob("*.zip"))


def build(ctx: Context) -> None:
    from pathlib import Path

    import pandas as pd

    from pipelines.reinforcement_learning import ENVIRONMENTS

    t = lambda key, **kw: ctx.t(key, TEXTS, **kw)  # noqa: E731
    target = ctx.own_model(live_target(ctx))  # this Space writes it: the model field may load it

    def summary(result: Any) -> str:
        cut = t("cut", frames=result.frames.shape[0]) if result.video_truncated and result.frames is not None else ""
        return t("summary", algo=result.algo, env=result.env, seed=result.seed, mean=result.mean_return,
                 std=result.std_return, n=result.episodes, cut=cut)

    def returns_frame(result: Any) -> Any:
        return pd.DataFrame([(i + 1, r, n) for i, (r, n) in enumerate(zip(result.returns, result.lengths,
                                                                           strict=True))],
                            columns=[t("episode"), t("return"), t("length")])

    def step_curve(result: Any) -> Any:
        rows = [(step, total, f"{t('episode')} {episode}") for episode, step, _, total in result.curve()]
        return pd.DataFrame(rows, columns=[t("step"), t("so_far"), t("episode")])

    def play_agent(model: str, episodes: float, seed: Any, deterministic: bool, *, run: Run) -> Iterator[Any]:
        from pipelines import validate

        episodes = whole("episodes", episodes, 1, MAX_EPISODES)
        seed = draw_seed(seed)
        deterministic = validate.boolean("deterministic", bool(deterministic))
        agent = yield from run.pipeline(TASK, model)

        def describe(step: int, total: int, info: dict[str, Any]) -> str:
            return t("playing", step=step, total=total, value=f"{info['return']:g}")

        def work(report: Any) -> Any:  # Stop ends it after the episode in progress
            return agent(episodes=episodes, seed=seed, deterministic=deterministic, max_frames=MAX_FRAMES,
                         progress=run.steps(describe))

        for kind, result in run.stream(work):
            if kind != "result":
                yield KEEP
                continue
            with request_folder("mmhub-rl-") as folder:
                video = str(result.save(folder / "episode.mp4")) if result.frames is not None else None
                run.finish(t("episodes_played", count=result.episodes), seed=result.seed,
                           stopped=result.interrupted)
                yield video, returns_frame(result), step_curve(result), summary(result)

    def training_curve(log: list[dict[str, Any]]) -> Any:
        rows = []
        for i, entry in enumerate(log):
            recent = [e["return"] for e in log[max(0, i - 9): i + 1]]
            rows.append((entry["step"], entry["return"], t("episode_return")))
            rows.append((entry["step"], sum(recent) / len(recent), t("mean10")))
        return pd.DataFrame(rows, columns=[t("timestep"), t("return"), t("series")])

    def train_live(algo: str, env: str, timesteps: float, seed: Any, replace: bool = False, *,
                   run: Run) -> Iterator[Any]:
        """Streams the untrained agent, the live curve (progress on the status line; Stop saves the agent as it is
        and ends the training), then the trained agent and the report. Outside tiny mode a trained agent in the
        folder is replaced only when `replace` is ticked (the ``exists`` refusal)."""
        from finetune.rl import RLArguments, main, make_agent
        from finetune.run import UsageError
        from pipelines import validate
        from pipelines.reinforcement_learning import EpisodesResult, play

        algo = validate.choice("algo", algo, ALGOS)
        env = validate.choice("env", env, ENVIRONMENTS)
        timesteps = whole("timesteps", timesteps, MIN_TIMESTEPS, MAX_TIMESTEPS)
        seed = parse_seed(seed)
        seed = validate.seed(None) if seed is None else validate.integer("seed", seed, low=0, high=2**31 - 1)
        refuse_replacing(ctx, trained_agent(target), replace, target)
        try:
            args = RLArguments(algo=algo, env=env, timesteps=timesteps, seed=seed, output_dir=target,
                               overwrite=True, video_length=0)
        except UsageError as err:
            raise gr.Error(t("train_failed", error=err), print_exception=False) from err
        log: list[dict[str, Any]] = []
        metrics: dict[str, Any] = {}
        drawn = {"at": 0.0}
        skip = gr.skip()

        def side(agent: Any, folder: Any, name: str) -> tuple[str | None, str]:
            fields = play(agent, env, SIDE_BY_SIDE_EPISODES, seed, record=1, max_frames=MAX_FRAMES)
            result = EpisodesResult(**fields, algo=args.algo.upper(), model=target)
            video = str(result.save(folder / f"{name}.mp4")) if result.frames is not None else None
            returns = ", ".join(f"{r:g}" for r in result.returns)
            return video, f"{summary(result)}  \n{t('return')}: {returns}"

        def work(report: Any) -> dict[str, Any]:
            def on_step(step: int, total: int, info: dict[str, Any]) -> bool:
                log.extend(info.get("finished", []))
                mean = info.get("mean_return")
                now = time.monotonic()
                if now - drawn["at"] >= CURVE_EVERY_S or step >= total:
                    drawn["at"] = now
                    report("curve")
                # False once Stop was pressed (or the stream was closed): the trainer saves and ends
                return run.report(step, total, t("training", step=step, total=total, episodes=info["episodes"],
                                                 mean="–" if mean is None else f"{mean:.1f}"))

            metrics = main(args, progress=on_step)
            ctx.cache.discard(TASK, target)
            return metrics

        with request_folder("mmhub-rl-train-") as folder:
            run.say(t("playing_before"))
            yield skip, skip, skip, "", skip, skip, skip
            before_video, before_text = side(make_agent(args), folder, "before")
            yield before_video, before_text, training_curve(log), skip, None, "", skip
            try:
                for kind, value in run.stream(work):
                    if kind == "update":
                        yield skip, skip, training_curve(log), skip, skip, skip, skip
                    elif kind == "result":
                        metrics = value
                    else:
                        yield KEEP
            except (UsageError, FileExistsError, OSError) as err:
                raise gr.Error(t("train_failed", error=err), print_exception=False) from err
            run.say(t("playing_after"))
            yield skip, skip, training_curve(log), skip, skip, skip, skip
            after = ctx.pipeline(TASK, target)
            after_video, after_text = side(after.agent, folder, "after")
            evaluation, random = metrics["evaluation"], metrics["random_baseline"]
            done = t("done", algo=metrics["algo"], env=env, steps=metrics["timesteps"], episodes=metrics["episodes"],
                     seconds=metrics["train_runtime_s"], stopped=t("stopped") if metrics["stopped_early"] else "",
                     mean=evaluation["mean_reward"], std=evaluation["std_reward"], random=random["mean_reward"],
                     folder=target)
            run.finish(t("saved"), seed=seed, stopped=metrics["stopped_early"])
            yield skip, skip, training_curve(log), done, after_video, after_text, gr.update(value=target)

    gr.Markdown(t("explain"))
    with gr.Tabs():
        with gr.Tab(t("play_tab"), id="rl-play"):
            if ctx.tiny:
                gr.Markdown(t("tiny_note"))
            choices = ctx.model_choices(TASK)
            if Path(target).is_dir():
                choices.append((f"{target} ({t('trained_here')})", target))
            model = gr.Dropdown(choices, value=ctx.default_model(TASK), label=ctx.t("model"),
                                info=ctx.t("model_info"), allow_custom_value=True, elem_id="rl-model")
            with gr.Row():
                episodes = gr.Slider(1, MAX_EPISODES, value=3, step=1, label=t("episodes"), elem_id="rl-episodes")
                seed = seed_input(ctx, elem_id="rl-seed")
                deterministic = gr.Checkbox(True, label=t("deterministic"))
            play_controls = run_controls(ctx, t("play"), elem_id="rl-play-run", stop=True)
            play_summary = gr.Markdown(elem_id="rl-play-summary")
            with gr.Row():
                video = gr.Video(label=t("video"), interactive=False, format="mp4", elem_id="rl-video")
                returns = gr.Dataframe(label=t("returns"), interactive=False, elem_id="rl-returns")
            curve = gr.LinePlot(x=t("step"), y=t("so_far"), color=t("episode"), label=t("curve"),
                                elem_id="rl-curve")
        with gr.Tab(t("train_tab"), id="rl-train"):
            gr.Markdown(t("train_explain", n=SIDE_BY_SIDE_EPISODES))
            with gr.Row():
                algo = gr.Dropdown([("PPO", "ppo"), ("DQN", "dqn")], value="ppo", label=t("algo"), elem_id="rl-algo")
                env = gr.Dropdown(list(ENVIRONMENTS), value="CartPole-v1", label=t("env"), elem_id="rl-env")
                timesteps = gr.Slider(MIN_TIMESTEPS, MAX_TIMESTEPS, value=4096 if ctx.tiny else 30_000, step=256,
                                      label=t("timesteps"), elem_id="rl-timesteps")
                train_seed = seed_input(ctx, elem_id="rl-train-seed")
            replace = replace_checkbox(ctx, target, elem_id="rl-replace")
            train_controls = run_controls(ctx, t("train"), elem_id="rl-train-run", stop=True, errors=ERROR_TEXTS)
            status = gr.Markdown(elem_id="rl-status")  # the report of a finished training
            live = gr.LinePlot(x=t("timestep"), y=t("return"), color=t("series"), label=t("live_curve"),
                               elem_id="rl-live-curve")
            with gr.Row():
                with gr.Column():
                    gr.Markdown(f"### {t('before')}")
                    before_video = gr.Video(label=t("before"), show_label=False, interactive=False, format="mp4",
                                            elem_id="rl-before-video")
                    before_text = gr.Markdown(elem_id="rl-before")
                with gr.Column():
                    gr.Markdown(f"### {t('after')}")
                    after_video = gr.Video(label=t("after"), show_label=False, interactive=False, format="mp4",
                                           elem_id="rl-after-video")
                    after_text = gr.Markdown(elem_id="rl-after")

    play_controls.click(play_agent, [model, episodes, seed, deterministic], [video, returns, curve, play_summary],
                        api_name="rl_play", **SPACE.queue)
    train_controls.click(train_live, [algo, env, timesteps, train_seed, replace],
                         [before_video, before_text, live, status, after_video, after_text, model],
                         api_name="rl_train", concurrency_limit=1, concurrency_id="rl_training")


SPACE = SpaceSpec(
    name="reinforcement_learning",
    title={"en": "Reinforcement learning", "pl": "Uczenie ze wzmocnieniem"},
    tasks=(TASK,),
    build=build,
    concurrency_limit=2,
    requirements=("torch", "numpy", "pandas", "matplotlib", "huggingface-hub", "pyyaml", "gymnasium",
                  "stable-baselines3", "box2d", "pygame", "imageio", "imageio-ffmpeg", "transformers", "accelerate",
                  "psutil"),
    emoji="🕹️",
    description="A stable-baselines3 agent plays Gymnasium (video, returns, rewards); train PPO or DQN live and "
                "compare it before and after.",
    order=110,
    group="basics",
    packages=("finetune",),
)


def main(argv: list[str] | None = None) -> None:
    from .launcher import run

    run([SPACE], argv, prog="python -m spaces.reinforcement_learning", title="mmhub · Reinforcement learning")


if __name__ == "__main__":
    main()
