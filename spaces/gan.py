"""GAN Space: watch a DCGAN learn live (a sample grid per epoch, both losses as they compete), then draw from it.

    python -m spaces.gan                  # samples from local:gan (trained here or by `python -m finetune.gan`)
    python -m spaces.gan --models tiny    # offline: a tiny GAN; live training on scikit-learn's digits, small nets

"Train live" trains `python -m finetune.gan`'s loop on the chosen data for a bounded number of epochs, showing after
each epoch the pictures the generator makes from the same fixed noise, and the discriminator's and the generator's
losses as they evolve; Stop ends it and keeps the generator as it is. The result is saved where ``load("gan")``
looks (with ``--models tiny``: in the tiny-model cache), and "Samples" draws from it at once.

API (gradio_client): ``/gan_samples`` (n, seed, truncation, model) -> the grid, the seed used; ``/gan_walk`` (start
seed, end seed, steps, truncation, model) -> the walk; ``/train_gan`` (dataset, epochs, max pictures, feature maps,
replace) -> streamed: the grid, the epoch gallery, the losses, a status line. Outside ``--models tiny`` a trained
GAN in ``local:gan`` is replaced only when "Replace the trained model" (``replace``, default False) is ticked.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import gradio as gr

from .common import KEEP, Context, Run, SpaceSpec, parse_seed, run_controls, seed_input, whole
from .inside import ERROR_TEXTS, enlarge, lab_pipeline, refuse_replacing, replace_checkbox, untrained, with_texts

logger = logging.getLogger(__name__)

TASK = "gan"
LOCAL = "local:gan"
SHOW = 4  # screen pixels per picture pixel in the grids
MAX_EPOCHS = 30  # the Space's bound (the CLI allows 1000)
LIVE_LOGGING_STEPS = 5
WIDTHS = (8, 16, 32, 64)  # feature maps offered (the trainer's default 32; pytorch/examples' 64)

TEXTS = with_texts({
    "en": {
        "samples_tab": "Samples", "train_tab": "Train live",
        "explain": "A **GAN** is two networks in competition. The **generator** turns random noise into a picture; "
                   "the **discriminator** gets real pictures and generated ones and learns to tell which is which. "
                   "Each learns from the other's mistakes: the discriminator's success is the generator's loss, so "
                   "the generator is pushed to make ever more believable pictures. Here both are small convolutional "
                   "networks (a DCGAN) making 28×28 pictures.",
        "samples_explain": "Every picture comes from 100 random numbers (the noise z): the same **seed** gives the "
                           "same pictures on any machine. **Truncation** keeps the noise near zero: more typical, "
                           "less varied pictures. The walk decodes the straight line between two noises: smooth "
                           "changes mean the generator learnt a continuous space, not a list of copies.",
        "n": "Pictures", "truncation": "Truncation (0 = off)", "generate": "Generate", "grid": "Generated pictures",
        "seed_text": "Seed {seed} · {n} pictures · truncation {truncation}", "off": "off",
        "start": "Start seed", "end": "End seed", "steps": "Steps", "walk": "Walk between two seeds",
        "walk_image": "From the first noise to the second",
        "missing": "⚠️ **No trained GAN yet** ({folder}). Train one in **Train live** (a few minutes on a CPU), or run "
                   "`python -m finetune.gan`.",
        "missing_model": "Train the GAN first (the Train live tab, or `python -m finetune.gan`).",
        "train_explain": "Training alternates: one step teaches the discriminator (real pictures → 1, generated → 0), "
                         "the next the generator (make the discriminator say 1). The grid shows the generator's "
                         "pictures from the **same noise** after every epoch: noise, then blobs, then shapes. The "
                         "plot shows both losses: they do not fall together, because each network's gain is the "
                         "other's loss.",
        "dataset_info": "zalando-datasets/fashion_mnist (clothes), ylecun/mnist (digits), a "
                   "local folder in their schema (`python -m finetune.image_data fixture DIR --like "
                   "fashion_mnist`), or sklearn-digits (offline, 1797 small digits).",
        "offline": "ℹ️ The Hugging Face Hub is switched off here (HF_HUB_OFFLINE): Hub datasets only work if already "
                   "in the local cache. Use a local folder or sklearn-digits.",
        "max_samples": "Pictures per epoch (0 = all)",
        "features": "Network width (feature maps; wider = better and slower)",
        "train": "Train", "stop": "Stop", "current": "The generator now (same noise every epoch)",
        "epochs_gallery": "After each epoch", "losses": "The competition: both losses",
        "step": "step", "loss": "loss", "curve": "network", "steps_count": "{count} step|{count} steps",
        "loss_d": "discriminator", "loss_g": "generator",
        "training": "Training: epoch {epoch:.2f} of {epochs}, step {step} of {total} · discriminator {loss_d:.3f} · "
                    "generator {loss_g:.3f}",
        "done": "✅ Trained on {source}: {steps} steps ({epochs:.2f} epochs, {seconds:.0f} s). Saved to "
                "`{folder}`; the Samples tab draws from it.",
        "stopped": "⏹️ Stopped at epoch {epochs:.2f} ({steps} steps, {seconds:.0f} s on {source}), saved to "
                   "`{folder}`; the Samples tab draws from it.",
        "stopped_short": "stopped at epoch {epochs:.2f}, saved",
        "walk_seeds": "Seeds {start} → {end}",
    },
    "pl": {
        "samples_tab": "Próbki", "train_tab": "Trening na żywo",
        "explain": "**GAN** to dwie sieci, które ze sobą rywalizują. **Generator** zamienia losowy szum w obrazek; "
                   "**dyskryminator** dostaje obrazki prawdziwe i wygenerowane i uczy się odróżniać jedne od "
                   "drugich. Każda uczy się na błędach drugiej: sukces dyskryminatora jest stratą generatora, więc "
                   "generator musi tworzyć coraz bardziej wiarygodne obrazki. Tu obie są małymi sieciami splotowymi "
                   "(DCGAN) tworzącymi obrazki 28×28.",
        "samples_explain": "Każdy obrazek powstaje ze 100 losowych liczb (szumu z): to samo **ziarno** daje te same "
                           "obrazki na każdym komputerze. **Obcięcie** trzyma szum blisko zera: obrazki bardziej "
                           "typowe, mniej różnorodne. Spacer dekoduje prostą między dwoma szumami: płynne zmiany "
                           "znaczą, że generator nauczył się ciągłej przestrzeni, a nie listy kopii.",
        "n": "Obrazki", "truncation": "Obcięcie (0 = wyłączone)", "generate": "Generuj",
        "grid": "Wygenerowane obrazki", "seed_text": "Ziarno {seed} · obrazków: {n} · obcięcie {truncation}",
        "off": "wyłączone", "start": "Ziarno początkowe", "end": "Ziarno końcowe", "steps": "Kroki",
        "walk": "Spacer między dwoma ziarnami", "walk_image": "Od pierwszego szumu do drugiego",
        "missing": "⚠️ **Nie ma jeszcze wytrenowanego GAN-a** ({folder}). Wytrenuj go w zakładce **Trening na "
                   "żywo** (kilka minut na CPU) albo uruchom `python -m finetune.gan`.",
        "missing_model": "Najpierw wytrenuj GAN-a (zakładka Trening na żywo albo `python -m finetune.gan`).",
        "train_explain": "Trening idzie na zmianę: jeden krok uczy dyskryminator (prawdziwe obrazki → 1, "
                         "wygenerowane → 0), następny generator (spraw, by dyskryminator powiedział 1). Siatka "
                         "pokazuje obrazki generatora z **tego samego szumu** po każdej epoce: szum, potem plamy, "
                         "potem kształty. Wykres pokazuje obie straty: nie maleją razem, bo zysk jednej sieci jest "
                         "stratą drugiej.",
        "dataset_info": "zalando-datasets/fashion_mnist (ubrania), ylecun/mnist (cyfry), "
                   "lokalny folder w ich schemacie (`python -m finetune.image_data fixture DIR --like "
                   "fashion_mnist`) albo sklearn-digits (offline, 1797 małych cyfr).",
        "offline": "ℹ️ Hugging Face Hub jest tu wyłączony (HF_HUB_OFFLINE): zbiory z Hub zadziałają tylko z lokalnej "
                   "pamięci podręcznej. Użyj lokalnego folderu albo sklearn-digits.",
        "max_samples": "Obrazków na epokę (0 = wszystkie)",
        "features": "Szerokość sieci (liczba map cech; szersza = lepsza i wolniejsza)",
        "train": "Trenuj", "stop": "Zatrzymaj", "current": "Generator teraz (ten sam szum w każdej epoce)",
        "epochs_gallery": "Po każdej epoce", "losses": "Rywalizacja: obie straty",
        "step": "krok", "loss": "strata", "curve": "sieć",
        "steps_count": "{count} krok|{count} kroki|{count} kroków",
        "loss_d": "dyskryminator", "loss_g": "generator",
        "training": "Trening: epoka {epoch:.2f} z {epochs}, krok {step} z {total} · dyskryminator {loss_d:.3f} · "
                    "generator {loss_g:.3f}",
        "done": "✅ Wytrenowano na {source}: {steps} (epoki: {epochs:.2f}, {seconds:.0f} s). Zapisano w "
                "`{folder}`; zakładka Próbki losuje z niego.",
        "stopped": "⏹️ Zatrzymano w epoce {epochs:.2f} ({steps}, {seconds:.0f} s na {source}), zapisano w "
                   "`{folder}`; zakładka Próbki losuje z niego.",
        "stopped_short": "zatrzymano w epoce {epochs:.2f}, zapisano",
        "walk_seeds": "Ziarna {start} → {end}",
    },
})


def live_target(ctx: Context) -> str:
    """Where live training writes: ``local:gan``; with tiny models the tiny cache (a user's GAN stays untouched)."""
    if ctx.tiny:
        from pipelines import tiny

        return str(tiny.cache_dir() / "gan-live")
    return LOCAL


def build(ctx: Context) -> None:
    import pandas as pd

    from pipelines import lab

    t = lambda key, **kw: ctx.t(key, TEXTS, **kw)  # noqa: E731
    target = live_target(ctx)
    if ctx.tiny:  # the tiny cache's folder is not under --allow-local-models, but this Space writes it itself
        ctx.own_model(target)
    default_model = "tiny" if ctx.tiny else LOCAL

    def gan(model: str, progress: Any = None) -> Any:
        return lab_pipeline(ctx, TASK, (model or "").strip() or default_model, t("missing_model"), progress)

    def truncation_of(value: float | None) -> float | None:
        return None if value in (None, 0) else value

    def samples(n: float, seed: float | None, truncation: float, model: str, *, run: Run) -> tuple:
        result = gan(model)(whole("n", n, 1, 256), seed=parse_seed(seed), truncation=truncation_of(truncation))
        text = t("seed_text", seed=result.seed, n=len(result.images),
                 truncation=result.truncation if result.truncation is not None else t("off"))
        run.finish(seed=result.seed)
        return enlarge(result.grid(), SHOW), text

    def walk(start: float, end: float, steps: float, truncation: float, model: str, *, run: Run) -> Any:
        steps = whole("steps", steps, 2, 64)
        result = gan(model).interpolate(parse_seed(start), parse_seed(end), steps=steps,
                                        truncation=truncation_of(truncation))
        run.finish(t("walk_seeds", start=result.seeds[0], end=result.seeds[-1]))
        return result.strip(scale=SHOW)

    def losses_frame(rows: list[tuple[int, str, float]]) -> Any:
        return pd.DataFrame(rows, columns=[t("step"), t("curve"), t("loss")])

    def train_live(dataset: str, epochs: float, max_samples: float, features: float, replace: bool = False, *,
                   run: Run) -> Iterator[Any]:
        """Streams the grid, the epoch gallery and the losses as it trains (Stop saves the generator as it is),
        then the report and the model field. Outside tiny mode a trained GAN is replaced only when `replace` is
        ticked (the ``exists`` refusal)."""
        from finetune.data import DataError
        from finetune.gan import GanArguments, main
        from finetune.run import UsageError
        from pipelines import validate

        rows: list[tuple[int, str, float]] = []
        grids: list[tuple[Any, str]] = []
        epochs = whole("epochs", epochs, 1, MAX_EPOCHS)
        width = validate.choice("features", str(whole("features", features, 4, 512)), [str(w) for w in WIDTHS])
        pictures = whole("max_samples", max_samples, 0, 10**9)
        refuse_replacing(ctx, lab.is_trained(target), replace, lab.resolve(target))
        args = GanArguments(dataset=(dataset or "").strip() or "sklearn-digits", output_dir=lab.resolve(target),
                            num_train_epochs=epochs, max_samples=pictures or None, generator_features=int(width),
                            discriminator_features=int(width), logging_steps=LIVE_LOGGING_STEPS, overwrite=True)

        def work(report: Any) -> dict[str, Any]:
            def on_step(step: int, total: int, info: dict[str, Any]) -> bool:
                if info.get("log"):
                    rows.extend([(step, t("loss_d"), info["log"]["loss_d"]), (step, t("loss_g"),
                                                                              info["log"]["loss_g"])])
                    report("log")
                if info.get("samples") is not None:
                    grids.append((info["samples"], f"{info['epoch']:.2f}"))
                    report("grid")
                words = t("training", epoch=info["epoch"], epochs=int(epochs), step=step, total=total,
                          loss_d=info.get("loss_d", float("nan")), loss_g=info.get("loss_g", float("nan")))
                return run.report(step, total, words)  # False after Stop (or a disconnect): save and end

            metrics = main(args, progress=on_step)
            ctx.cache.discard(TASK, target)
            return metrics

        try:
            for kind, value in run.stream(work):
                current = enlarge(grids[-1][0], 3) if grids else gr.skip()
                if kind == "update":
                    yield current, list(grids), losses_frame(rows), gr.skip(), gr.skip()
                elif kind == "result":
                    figures = {"source": value["data"]["source"], "epochs": value["epoch"],
                               "steps": t("steps_count", count=value["global_step"]),
                               "seconds": value["train_runtime_s"], "folder": lab.resolve(target)}
                    stopped = value["stopped_early"]
                    run.finish(t("stopped_short", **figures) if stopped else None, stopped=stopped)
                    yield (current, list(grids), losses_frame(rows), t("stopped" if stopped else "done", **figures),
                           gr.update(value=target))
                else:
                    yield KEEP
        except (DataError, UsageError, FileExistsError, OSError) as err:
            raise gr.Error(t("train_failed", error=err), print_exception=False) from err

    missing = untrained(ctx, LOCAL)
    from huggingface_hub import constants

    offline = constants.HF_HUB_OFFLINE
    gr.Markdown(t("explain"))
    with gr.Tabs(selected="gan-train" if missing else "gan-samples"):
        with gr.Tab(t("samples_tab"), id="gan-samples"):
            if missing:
                gr.Markdown(t("missing", folder=lab.resolve(LOCAL)), elem_id="gan-missing")
            gr.Markdown(t("samples_explain"))
            choices = ctx.model_choices(TASK)
            if ctx.tiny:
                choices.append((f"{target} (live)", target))
            model = gr.Dropdown(choices, value=default_model, label=ctx.t("model"), info=ctx.t("model_info"),
                                allow_custom_value=True, elem_id="gan-model")
            with gr.Row():
                n = gr.Slider(1, 64, value=16, step=1, label=t("n"))
                seed = seed_input(ctx, elem_id="gan-seed-input")
                truncation = gr.Slider(0, 3, value=0, step=0.1, label=t("truncation"))
            generate = run_controls(ctx, t("generate"), elem_id="gan-generate")
            grid = gr.Image(label=t("grid"), type="pil", format="png", interactive=False, elem_id="gan-grid")
            seed_text = gr.Markdown(elem_id="gan-seed")
            with gr.Accordion(t("walk"), open=False):
                with gr.Row():
                    start = gr.Number(1, label=t("start"), precision=0, minimum=0)  # the two ends: fixed seeds
                    end = gr.Number(2, label=t("end"), precision=0, minimum=0)
                    steps = gr.Slider(2, 16, value=8, step=1, label=t("steps"))
                walk_button = run_controls(ctx, t("walk"), elem_id="gan-walk", variant="secondary")
                walk_image = gr.Image(label=t("walk_image"), type="pil", format="png", interactive=False,
                                      elem_id="gan-walk-image")
        with gr.Tab(t("train_tab"), id="gan-train"):
            gr.Markdown(t("train_explain"))
            if offline:
                gr.Markdown(t("offline"))
            import torch

            with gr.Row():
                dataset = gr.Textbox("sklearn-digits" if offline else "zalando-datasets/fashion_mnist",
                                     label=t("dataset"), info=t("dataset_info"), elem_id="gan-dataset")
                epochs = gr.Slider(1, MAX_EPOCHS, value=2 if ctx.tiny else 5, step=1, label=t("epochs"),
                                   elem_id="gan-epochs-slider")
                # a CPU epoch of all 60,000 pictures takes minutes: 10,000 keeps each epoch's grid coming
                max_samples = gr.Number(512 if ctx.tiny else 0 if torch.cuda.is_available() else 10000,
                                        label=t("max_samples"), precision=0, minimum=0, elem_id="gan-max-samples")
                features = gr.Dropdown(list(WIDTHS), value=8 if ctx.tiny else 32, label=t("features"),
                                       elem_id="gan-features")
            replace = replace_checkbox(ctx, lab.resolve(target), elem_id="gan-replace")
            train = run_controls(ctx, t("train"), elem_id="gan-train-run", stop=True, errors=ERROR_TEXTS)
            status = gr.Markdown(elem_id="gan-status")
            with gr.Row():
                current = gr.Image(label=t("current"), type="pil", format="png", interactive=False,
                                   elem_id="gan-current")
                losses = gr.LinePlot(x=t("step"), y=t("loss"), color=t("curve"), label=t("losses"),
                                     elem_id="gan-losses")
            gallery = gr.Gallery(label=t("epochs_gallery"), columns=6, height="auto", format="png",
                                 elem_id="gan-epochs")

    generate.click(samples, [n, seed, truncation, model], [grid, seed_text], api_name="gan_samples", **SPACE.queue)
    walk_button.click(walk, [start, end, steps, truncation, model], walk_image, api_name="gan_walk", **SPACE.queue)
    train.click(train_live, [dataset, epochs, max_samples, features, replace],
                [current, gallery, losses, status, model], api_name="train_gan", concurrency_limit=1,
                concurrency_id="gan_training")


SPACE = SpaceSpec(
    name="gan",
    title={"en": "GAN", "pl": "GAN"},
    tasks=(TASK,),
    build=build,
    concurrency_limit=2,
    requirements=("torch", "safetensors", "huggingface-hub", "numpy", "pillow", "pandas", "matplotlib",
                  "scikit-learn", "datasets", "accelerate", "transformers"),
    emoji="🎭",
    description="A DCGAN trained live: a sample grid per epoch and both losses, then seeded samples and latent walks.",
    order=94,
    group="inside",
    packages=("finetune",),
)


def main(argv: list[str] | None = None) -> None:
    from .launcher import run

    run([SPACE], argv, prog="python -m spaces.gan", title="mmhub · GAN")


if __name__ == "__main__":
    main()
