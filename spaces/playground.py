"""Playground Space: TensorFlow Playground in PyTorch — play, pause, step and reset, and watch every neuron learn.

    python -m spaces.playground            # this tab alone (it trains its networks itself: no model to download)
    python -m spaces                       # in the app, under "Basics"

The page's controls (data set, noise, training ratio, batch size, features, up to 6 hidden layers of up to 8 neurons,
activation, learning rate, regularisation and its rate, show test data, discretize output) drive a
`pipelines.playground.Playground` held per browser session. Play starts a `gr.Timer`: each tick trains `Speed`
epochs and sends the picture (the network with every neuron's map and its weights as lines, the output with the
points, both loss curves, the epoch). The browser asks for the next tick only when the last one has arrived (the
tick's trigger mode is "once"), so a slow machine or browser gets fewer frames, never a backlog of stale ones.
Pause stops the timer (and the server's session stops playing), Step trains one epoch; Reset starts again from the
same seed (the same points and weights), New data draws a new seed. As on the page, the learning
rate, the regularisation rate and the batch size change a running network, any other setting starts it again.
Beyond the page: your own CSV points, the "What is overfitting?" preset, the network exported (config.json +
model.safetensors, for ``load("playground", model=...)``), the same network as PyTorch code, and the page's own URL
for the same seed and settings (the same points and starting weights there).

API (gradio_client): ``/playground_reset`` and ``/playground_step``, each taking every control and returning the
picture (HTML) and a status line; ``/playground_export`` -> a .zip.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import logging
import secrets
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr

from .common import (
    Context,
    Refusal,
    SpaceSpec,
    on_status_line,
    parse_seed,
    request_folder,
    seed_input,
    status_html,
    user_errors,
    whole,
)

logger = logging.getLogger(__name__)

MAX_SPEED = 50  # epochs per frame
TICK = 0.1  # seconds between frames at most (10 per second; fewer when a frame takes longer)
MAX_PLAY_SECONDS = 600.0  # a play pauses itself after this long (a tab left open must not train for ever)
MAX_TICKS = 8  # frames computed at once on one server (the other sessions' ticks wait their turn)
POINTS = {"classification": 500, "regression": 1200}  # the page's NUM_SAMPLES_CLASSIFY / NUM_SAMPLES_REGRESS

TEXTS = {
    "en": {
        "explain": "Two of the four basic tasks of AI, on a small network you can watch: **classification** assigns "
                   "each point to a class (blue or orange), **regression** approximates a function from its values "
                   "at a few points. Press ▶ and see every neuron's own picture change as the weights (the lines: "
                   "blue positive, orange negative, thicker = larger) learn. The same data sets, network and "
                   "training as [TensorFlow Playground](https://playground.tensorflow.org), in PyTorch.",
        "play": "▶ Play", "pause": "⏸ Pause", "step": "⏭ Step", "reset": "↺ Reset", "regenerate": "🎲 New data",
        "speed": "Speed (epochs per update)", "preset": "What is overfitting?",
        "data": "Data", "problem": "Problem type", "classification": "Classification", "regression": "Regression",
        "dataset": "Which dataset do you want to use?", "csv": "…or your own points (CSV: x1, x2, label)",
        "ratio": "Ratio of training to test data (%)", "noise": "Noise", "batch": "Batch size",
        "points": "Number of points (the page: 500, or 1,200 for regression)",
        "features": "Features", "features_info": "Which properties do you want to feed in?",
        "layers": "Hidden layers", "neurons": "Neurons in layer {n}", "network": "Network",
        "activation": "Activation", "learning_rate": "Learning rate", "regularization": "Regularization",
        "regularization_rate": "Regularization rate", "show_test": "Show test data",
        "discretize": "Discretize output", "export": "Export the network", "export_file": "Network (.zip)",
        "code": "The same network in PyTorch", "page": "On playground.tensorflow.org",
        "page_link": "[Open these settings on the Playground's page]({url}): the same points and the same starting "
                     "weights (seed {seed}).",
        "page_csv": "The Playground's page cannot load your own points.",
        "page_points": "(The page always draws {page} points; these settings have {ours}, so its points differ.)",
        "playing": "▶ Playing · epoch {epoch} · seed {seed}", "paused": "⏸ Paused at epoch {epoch} · seed {seed}",
        "ready": "Ready · epoch {epoch} · seed {seed} · {source}: {train} training and {test} test points",
        "timeout": "⏸ Paused after {minutes} minutes of play (press ▶ to go on) · epoch {epoch}",
        "preset_text": "**What is overfitting?** Few noisy points (30 to train), the biggest network (6 × 8 neurons) "
                       "and no regularisation: press ▶ and watch the **test** loss (black) fall, then climb again "
                       "while the **training** loss (grey) keeps falling — the network learns the noise of its "
                       "training points instead of the pattern. Then set regularization L2 with rate 0.01 and "
                       "press ↺ Reset.",
        "exported": "Exported after epoch {epoch}: config.json + model.safetensors. Load it with "
                    "`load(\"playground\", model=\"<the unzipped folder>\")`.",
        # the page's names of its data sets, activations and regularisations
        "set_circle": "Circle", "set_xor": "Exclusive or (XOR)", "set_gauss": "Gaussian", "set_spiral": "Spiral",
        "set_reg-plane": "Plane", "set_reg-gauss": "Multi Gaussian", "act_relu": "ReLU", "act_tanh": "Tanh",
        "act_sigmoid": "Sigmoid", "act_linear": "Linear", "reg_none": "None", "reg_L1": "L1", "reg_L2": "L2",
    },
    "pl": {
        "explain": "Dwa z czterech podstawowych zadań AI na małej sieci, którą widać od środka: **klasyfikacja** "
                   "przypisuje każdy punkt do klasy (niebieskiej albo pomarańczowej), **regresja** przybliża "
                   "funkcję, której wartości znamy w kilku punktach. Naciśnij ▶ i patrz, jak obrazek każdego "
                   "neuronu zmienia się, gdy uczą się wagi (linie: niebieskie dodatnie, pomarańczowe ujemne, "
                   "grubsza = większa). Te same zbiory danych, sieć i trening co w "
                   "[TensorFlow Playground](https://playground.tensorflow.org), w PyTorchu.",
        "play": "▶ Start", "pause": "⏸ Pauza", "step": "⏭ Krok", "reset": "↺ Od nowa", "regenerate": "🎲 Nowe dane",
        "speed": "Szybkość (epoki na odświeżenie)", "preset": "Co to jest przeuczenie?",
        "data": "Dane", "problem": "Rodzaj problemu", "classification": "Klasyfikacja", "regression": "Regresja",
        "dataset": "Którego zbioru danych chcesz użyć?", "csv": "…albo własne punkty (CSV: x1, x2, etykieta)",
        "ratio": "Proporcja danych treningowych do testowych (%)", "noise": "Szum", "batch": "Rozmiar partii",
        "points": "Liczba punktów (na stronie: 500, dla regresji 1200)",
        "features": "Cechy", "features_info": "Które cechy podać na wejście sieci?",
        "layers": "Warstwy ukryte", "neurons": "Neurony w warstwie {n}", "network": "Sieć",
        "activation": "Funkcja aktywacji", "learning_rate": "Współczynnik uczenia", "regularization": "Regularyzacja",
        "regularization_rate": "Współczynnik regularyzacji", "show_test": "Pokaż dane testowe",
        "discretize": "Wyjście dyskretne", "export": "Eksportuj sieć", "export_file": "Sieć (.zip)",
        "code": "Ta sama sieć w PyTorchu", "page": "Na playground.tensorflow.org",
        "page_link": "[Otwórz te ustawienia na stronie Playground]({url}): te same punkty i te same wagi początkowe "
                     "(ziarno {seed}).",
        "page_csv": "Strona Playground nie wczyta własnych punktów.",
        "page_points": "(Strona zawsze losuje {page} punktów; te ustawienia mają {ours}, więc punkty będą inne.)",
        "playing": "▶ Trening · epoka {epoch} · ziarno {seed}", "paused": "⏸ Pauza w epoce {epoch} · ziarno {seed}",
        "ready": "Gotowe · epoka {epoch} · ziarno {seed} · {source}: punkty treningowe {train}, testowe {test}",
        "timeout": "⏸ Pauza po {minutes} minutach treningu (naciśnij ▶, by kontynuować) · epoka {epoch}",
        "preset_text": "**Co to jest przeuczenie?** Mało zaszumionych punktów (30 treningowych), największa sieć "
                       "(6 × 8 neuronów) i brak regularyzacji: naciśnij ▶ i patrz, jak strata **testowa** (czarna) "
                       "spada, a potem znów rośnie, choć strata **treningowa** (szara) wciąż maleje — sieć uczy się "
                       "szumu swoich punktów treningowych zamiast wzorca. Potem ustaw regularyzację L2 ze "
                       "współczynnikiem 0,01 i naciśnij ↺ Od nowa.",
        "exported": "Wyeksportowano po epoce {epoch}: config.json + model.safetensors. Wczytaj przez "
                    "`load(\"playground\", model=\"<rozpakowany folder>\")`.",
        "set_circle": "Okrąg", "set_xor": "Alternatywa wykluczająca (XOR)", "set_gauss": "Rozkład Gaussa",
        "set_spiral": "Spirala", "set_reg-plane": "Płaszczyzna", "set_reg-gauss": "Kilka rozkładów Gaussa",
        "act_relu": "ReLU", "act_tanh": "Tanh", "act_sigmoid": "Sigmoida", "act_linear": "Liniowa",
        "reg_none": "Brak", "reg_L1": "L1", "reg_L2": "L2",
    },
}

#: The status line's state for each of its messages (`spaces.common.status_html`).
STATES = {"ready": "done", "playing": "running", "paused": "stopped"}

#: Refusals in a person's words (`spaces.common.ERRORS`' shape), by the argument the check names.
ERROR_TEXTS = {
    "en": {
        "features": "Pick at least one feature to feed in.",
        "batch_size": "The batch is larger than the training points: make it smaller, or use more points or a "
                      "larger share of training data.",
        "train_ratio": "This ratio leaves no training or no test point: use more points or a ratio nearer 50%.",
        "csv": "Your points cannot be used ({where}: {problem}). A CSV needs two numeric columns (x1, x2) and a "
               "label (two classes) or a numeric target, one point per line.",
        "data:missing": "Upload your points (a CSV: x1, x2, label) first.",
    },
    "pl": {
        "features": "Wybierz co najmniej jedną cechę wejściową.",
        "batch_size": "Partia jest większa niż liczba punktów treningowych: zmniejsz ją albo użyj więcej punktów "
                      "lub większej części danych treningowych.",
        "train_ratio": "Przy tej proporcji nie zostaje żaden punkt treningowy albo testowy: użyj więcej punktów "
                       "albo proporcji bliższej 50%.",
        "csv": "Nie da się użyć Twoich punktów ({where}). Plik CSV potrzebuje dwóch kolumn liczbowych (x1, x2) i "
               "etykiety (dwie klasy) albo liczbowego celu, jeden punkt w wierszu.",
        "data:missing": "Najpierw wgraj swoje punkty (CSV: x1, x2, etykieta).",
    },
}


@dataclasses.dataclass
class Session:
    """One browser session's Playground: the trainer, whether it plays (and since when), and a lock held from a
    frame's check to its picture, so that a tick and a pause, a step or a reset never interleave."""

    trainer: Any
    csv: str | None = None
    playing: bool = False
    since: float = 0.0
    lock: threading.RLock = dataclasses.field(default_factory=threading.RLock)
    points: Any = None

    def __deepcopy__(self, memo: dict) -> Session:  # gr.State copies its initial value per session; ours is None
        return self


def build(ctx: Context) -> None:
    from pipelines import playground as pgm
    from pipelines.playground_data import CLASSIFICATION_SETS, FEATURES, REGRESSION_SETS
    from pipelines.playground_svg import PointsCache, RenderOptions, render_html

    t = lambda key, **kw: ctx.t(key, TEXTS, **kw)  # noqa: E731
    t_seed = ctx.t("seed")
    first_seed = secrets.randbelow(100_000)  # what a new session shows until its seed is set

    # -- controls -> settings ---------------------------------------------------------------------------------

    def settings_from(seed: Any, problem: str, dataset: str, csv_file: Any, ratio: float, noise: float,
                      points: float, batch: float, features: list[str], layers: float, *rest: Any
                      ) -> tuple[Any, str | None]:
        neurons, (activation, learning_rate, regularization, rate) = rest[:pgm.MAX_LAYERS], rest[pgm.MAX_LAYERS:]
        n_layers = whole("layers", layers, 0, pgm.MAX_LAYERS)
        hidden = tuple(whole(f"hidden[{i}]", n, 1, pgm.MAX_NEURONS) for i, n in enumerate(neurons[:n_layers]))
        csv = csv_file if isinstance(csv_file, str) and csv_file else None
        settings = pgm.PlaygroundSettings(
            dataset="csv" if csv else (dataset or "circle"), noise=_number(noise), train_ratio=_number(ratio),
            batch_size=whole("batch_size", batch, 1, 10**6), features=features or [], hidden=hidden,
            activation=activation, learning_rate=_number(learning_rate), regularization=regularization,
            regularization_rate=_number(rate), num_samples=None if csv else whole("num_samples", points, 4, 20_000),
            seed=seed)
        return settings, csv

    def seed_for(session: Session | None, value: Any) -> int:
        chosen = parse_seed(value)
        if chosen is not None:
            return chosen
        return session.trainer.settings.seed if session is not None else first_seed

    def options(show_test: bool, discretize: bool) -> RenderOptions:
        return RenderOptions(show_test=bool(show_test), discretize=bool(discretize), lang=ctx.lang)

    def picture(session: Session, show_test: bool, discretize: bool) -> str:
        trainer = session.trainer
        return render_html(trainer.frame(), trainer.data, options(show_test, discretize), session.points)

    def source_name(source: str) -> str:
        """A data set's name in the UI's language (the page's names); a CSV's file name as it is."""
        return t(f"set_{source}") if f"set_{source}" in TEXTS["en"] else source

    def status(session: Session, key: str = "ready", before: str = "") -> str:
        """The status line (`status_html`): ready, playing, paused, with the epoch and the seed used."""
        trainer = session.trainer
        words = t(key, epoch=trainer.epoch, seed=trainer.settings.seed, source=source_name(trainer.data.source),
                  train=len(trainer.data.train_x), test=len(trainer.data.test_x))
        return status_html(before + words, STATES[key])

    def extras(session: Session) -> tuple[str, str]:
        trainer = session.trainer
        settings = trainer.settings
        if settings.dataset == "csv":
            return trainer.code(), t("page_csv")
        link = t("page_link", url=settings.url(), seed=settings.seed)
        page_points = POINTS[trainer.problem]
        if settings.num_samples not in (None, page_points):
            link += " " + t("page_points", page=page_points, ours=settings.num_samples)
        return trainer.code(), link

    def start(session: Session | None, seed: Any, controls: tuple) -> Session:
        """A session whose trainer has these settings: the same one when nothing that matters changed (the live
        settings are applied to it), else a new one, paused (as the page's reset)."""
        settings, csv = settings_from(seed_for(session, seed), *controls)
        if session is not None:
            with session.lock:
                current = session.trainer.settings
                live = {name: getattr(settings, name) for name in pgm.Playground.LIVE}
                if current.replace(**live) == settings and csv == session.csv:
                    if live != {name: getattr(current, name) for name in pgm.Playground.LIVE}:
                        session.trainer.update(**live)
                    return session
        trainer = pgm.Playground(settings, data=csv)
        if session is None:
            return Session(trainer, csv, points=PointsCache())
        with session.lock:
            session.trainer, session.csv, session.playing = trainer, csv, False
        return session

    def stopped(session: Session) -> Session:
        with session.lock:
            session.playing = False
        return session

    # -- handlers ---------------------------------------------------------------------------------------------

    def apply(session: Session | None, seed: Any, show_test: bool, discretize: bool, *controls: Any) -> tuple:
        before = session.trainer if session is not None else None
        session = start(session, seed, controls)
        if session.trainer is before:  # a live change (or none): a playing network goes on with it
            return session, gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
        with session.lock:
            return (session, picture(session, show_test, discretize), status(session), *extras(session),
                    gr.Timer(active=False))

    def redraw(session: Session | None, show_test: bool, discretize: bool) -> tuple[Any, Any]:
        if session is None:
            return initial_picture(show_test, discretize), gr.skip()
        with session.lock:
            return picture(session, show_test, discretize), gr.skip()

    def reset(session: Session | None, seed: Any, show_test: bool, discretize: bool, *controls: Any) -> tuple:
        session = stopped(start(session, seed, controls))
        with session.lock:
            session.trainer.reset(seed=seed_for(session, seed))
            return session, picture(session, show_test, discretize), status(session), *extras(session)

    def regenerate(session: Session | None, show_test: bool, discretize: bool, *controls: Any) -> tuple:
        session = stopped(start(session, -1, controls))
        with session.lock:
            session.trainer.reset(seed=secrets.randbelow(100_000))
            return (session, picture(session, show_test, discretize), status(session), *extras(session),
                    gr.Timer(active=False), gr.update(value=-1))

    def step(session: Session | None, seed: Any, show_test: bool, discretize: bool, *controls: Any) -> tuple:
        session = stopped(start(session, seed, controls))
        with session.lock:
            session.trainer.step(1)
            return session, picture(session, show_test, discretize), status(session, "paused")

    def play(session: Session | None, seed: Any, show_test: bool, discretize: bool, *controls: Any) -> tuple:
        session = start(session, seed, controls)
        with session.lock:
            session.playing, session.since = True, time.monotonic()
            return session, status(session, "playing"), gr.Timer(active=True)

    def tick(session: Session | None, speed: float, show_test: bool, discretize: bool) -> tuple:
        """One frame of a play: `speed` epochs, then the picture (nothing when the session no longer plays)."""
        epochs = whole("speed", speed, 1, MAX_SPEED)
        if session is None or not session.playing:
            return session, gr.skip(), gr.skip(), gr.Timer(active=False)
        with session.lock:
            if not session.playing:  # paused while this tick waited for the lock
                return session, gr.skip(), gr.skip(), gr.Timer(active=False)
            session.trainer.step(epochs)
            if time.monotonic() - session.since > MAX_PLAY_SECONDS:
                session.playing = False
                return (session, picture(session, show_test, discretize),
                        status_html(t("timeout", minutes=int(MAX_PLAY_SECONDS // 60), epoch=session.trainer.epoch),
                                    "stopped"), gr.Timer(active=False))
            return session, picture(session, show_test, discretize), status(session, "playing"), gr.skip()

    def pause(session: Session | None) -> Any:
        if session is not None:
            stopped(session)
        return gr.Timer(active=False)

    def paused(session: Session | None, show_test: bool, discretize: bool) -> tuple:
        """After a pause: the picture and the epoch where it stopped (after any tick still running)."""
        if session is None:
            return gr.skip(), gr.skip()
        with session.lock:
            return picture(session, show_test, discretize), status(session, "paused")

    def preset(session: Session | None) -> tuple:
        settings = pgm.overfitting_preset()
        trainer = pgm.Playground(settings)
        if session is None:
            session = Session(trainer, None, points=PointsCache())
        else:
            with session.lock:
                session.trainer, session.csv, session.playing = trainer, None, False
        hidden = list(settings.hidden)
        neuron_updates = [gr.update(value=hidden[i] if i < len(hidden) else 2, visible=i < len(hidden))
                          for i in range(pgm.MAX_LAYERS)]
        with session.lock:
            return (session, picture(session, True, False), status(session, before=t("preset_text") + "\n\n"),
                    *extras(session), gr.Timer(active=False), settings.seed, "classification",
                    gr.update(choices=_choices(CLASSIFICATION_SETS, t), value=settings.dataset), None,
                    settings.train_ratio, settings.noise, settings.num_samples, settings.batch_size,
                    list(settings.features), len(hidden), *neuron_updates, settings.activation,
                    settings.learning_rate, settings.regularization, settings.regularization_rate, True, False)

    def export(session: Session | None, seed: Any, *controls: Any) -> Iterator[tuple]:
        session = start(session, seed, controls)
        with request_folder("mmhub-playground-") as folder:
            with session.lock:
                trainer = session.trainer
                trainer.export(folder / "playground-network")
                epoch = trainer.epoch
            archive = shutil.make_archive(str(folder / f"playground-{trainer.data.source}-epoch{epoch}"), "zip",
                                          folder / "playground-network")
            yield session, archive, status_html(t("exported", epoch=epoch))

    def problem_changed(problem: str, dataset: str, points: float) -> tuple:
        """The data sets of the problem (the chosen one kept when it is one of them, as after the preset), and the
        page's number of points for it when the field still shows the other problem's."""
        sets = REGRESSION_SETS if problem == "regression" else CLASSIFICATION_SETS
        keep = dataset in sets
        return (gr.update(choices=_choices(sets, t), value=dataset if keep else sets[0]),
                points if keep or points not in POINTS.values() else POINTS.get(problem, 500))

    def layers_changed(layers: float) -> list:
        n = int(layers) if isinstance(layers, (int, float)) and layers == layers else 0
        return [gr.update(visible=i < n) for i in range(pgm.MAX_LAYERS)]

    # -- the first picture (the page's defaults), shared by new sessions ------------------------------------

    first = pgm.Playground(seed=first_seed)
    first_points = PointsCache()

    def initial_picture(show_test: bool = False, discretize: bool = False) -> str:
        return render_html(first.frame(), first.data, options(show_test, discretize), first_points)

    defaults = first.settings

    # -- layout ---------------------------------------------------------------------------------------------

    gr.Markdown(t("explain"))
    session_state = gr.State(None)
    with gr.Row(equal_height=True):
        play_button = gr.Button(t("play"), variant="primary", elem_id="pg-play", min_width=90)
        pause_button = gr.Button(t("pause"), elem_id="pg-pause", min_width=90)
        step_button = gr.Button(t("step"), elem_id="pg-step", min_width=90)
        reset_button = gr.Button(t("reset"), elem_id="pg-reset", min_width=90)
        speed = gr.Slider(1, MAX_SPEED, value=2, step=1, label=t("speed"), elem_id="pg-speed", min_width=220)
        preset_button = gr.Button(t("preset"), elem_id="pg-preset", min_width=160)
    # the status line of the app's run controls (the same look, errors said there in words); Play, Pause, Step and
    # Reset are this tab's own controls
    status_line = gr.HTML(status_html(t("ready", epoch=0, seed=first_seed, source=source_name(first.data.source),
                                        train=len(first.data.train_x), test=len(first.data.test_x))),
                          elem_id="pg-status", elem_classes=["mmhub-status"], padding=False)
    with gr.Row():
        with gr.Column(scale=1, min_width=250):
            gr.Markdown(f"**{t('data')}**")
            problem = gr.Radio([(t("classification"), "classification"), (t("regression"), "regression")],
                               value="classification", label=t("problem"), elem_id="pg-problem")
            dataset = gr.Radio(_choices(CLASSIFICATION_SETS, t), value=defaults.dataset, label=t("dataset"),
                               elem_id="pg-dataset")
            ratio = gr.Slider(10, 90, value=defaults.train_ratio, step=10, label=t("ratio"), elem_id="pg-ratio")
            noise = gr.Slider(0, 50, value=defaults.noise, step=5, label=t("noise"), elem_id="pg-noise")
            batch = gr.Slider(1, 30, value=defaults.batch_size, step=1, label=t("batch"), elem_id="pg-batch")
            points = gr.Slider(20, 2000, value=500, step=10, label=t("points"), elem_id="pg-points")
            with gr.Row():
                seed = seed_input(ctx, elem_id="pg-seed", min_width=110)
                regenerate_button = gr.Button(t("regenerate"), elem_id="pg-regenerate", min_width=100)
            csv_file = gr.File(label=t("csv"), file_types=[".csv", ".txt"], type="filepath", height=110,
                               elem_id="pg-csv")
        with gr.Column(scale=3, min_width=320):
            view = gr.HTML(initial_picture(), elem_id="pg-view")
            with gr.Row():
                show_test = gr.Checkbox(False, label=t("show_test"), elem_id="pg-show-test")
                discretize = gr.Checkbox(False, label=t("discretize"), elem_id="pg-discretize")
    with gr.Row():
        with gr.Column(scale=1, min_width=220):
            gr.Markdown(f"**{t('features')}**")
            features = gr.CheckboxGroup([(label, name) for name, (label, _, _) in FEATURES.items()],
                                        value=list(defaults.features), label=t("features_info"),
                                        elem_id="pg-features")
        with gr.Column(scale=1, min_width=220):
            gr.Markdown(f"**{t('network')}**")
            layers = gr.Slider(0, pgm.MAX_LAYERS, value=len(defaults.hidden), step=1, label=t("layers"),
                               elem_id="pg-layers")
            neurons = [gr.Slider(1, pgm.MAX_NEURONS, value=defaults.hidden[i] if i < len(defaults.hidden) else 2,
                                 step=1, label=t("neurons", n=i + 1), visible=i < len(defaults.hidden),
                                 elem_id=f"pg-neurons-{i + 1}") for i in range(pgm.MAX_LAYERS)]
        with gr.Column(scale=1, min_width=220):
            activation = gr.Dropdown([(t(f"act_{a}"), a) for a in pgm.ACTIVATIONS],
                                     value=defaults.activation, label=t("activation"), elem_id="pg-activation")
            learning_rate = gr.Dropdown(list(pgm.LEARNING_RATES), value=defaults.learning_rate,
                                        label=t("learning_rate"), elem_id="pg-learning-rate")
            regularization = gr.Dropdown([(t(f"reg_{r}"), r) for r in pgm.REGULARIZATIONS],
                                         value=defaults.regularization,
                                         label=t("regularization"), elem_id="pg-regularization")
            rate = gr.Dropdown(list(pgm.REGULARIZATION_RATES), value=defaults.regularization_rate,
                               label=t("regularization_rate"), elem_id="pg-regularization-rate")
    with gr.Accordion(t("export"), open=False):
        export_button = gr.Button(t("export"), elem_id="pg-export")
        export_file = gr.File(label=t("export_file"), interactive=False, elem_id="pg-export-file")
    with gr.Accordion(t("code"), open=False):
        code = gr.Code(first.code(), language="python", elem_id="pg-code")
    with gr.Accordion(t("page"), open=False):
        page_link = gr.Markdown(t("page_link", url=defaults.url(), seed=first_seed), elem_id="pg-page")

    timer = gr.Timer(TICK, active=False)

    # -- events ---------------------------------------------------------------------------------------------
    # Only what the user does triggers a handler (`input`, a slider's `release`, a file's upload / clear): the
    # preset and the problem switch set many controls at once and must not start one rebuild per control.

    controls = [problem, dataset, csv_file, ratio, noise, points, batch, features, layers, *neurons, activation,
                learning_rate, regularization, rate]
    sliders = [ratio, noise, points, batch, layers, *neurons]
    view_flags = [show_test, discretize]
    queue = SPACE.queue
    labels = {"seed": t_seed, "num_samples": t("points"), "batch_size": t("batch"), "train_ratio": t("ratio"),
              "features": t("features"), "hidden": t("layers"), "speed": t("speed")}

    def page(fn: Any, outputs: list[Any], stop_timer: bool = False) -> Any:
        """`fn` for this page: a refusal goes to the status line in words (`on_status_line`), and switches the
        timer off when `stop_timer` (a play that cannot go on)."""
        also = {outputs.index(timer): gr.update(active=False)} if stop_timer else {}
        return on_status_line(ctx, csv_words(fn), len(outputs), outputs.index(status_line), ERROR_TEXTS, labels,
                              also)

    def csv_words(fn: Any) -> Any:
        """`fn` whose refused CSV is a `Refusal` naming the file, the line and the problem (for the page)."""
        from pipelines.playground_data import CsvDataError

        def refusal(err: CsvDataError) -> Refusal:
            where = f"{Path(err.path).name}:{err.line}" if err.line else Path(err.path).name
            return Refusal("csv", ERROR_TEXTS, where=where, problem=err.problem)

        if inspect.isgeneratorfunction(fn):
            @functools.wraps(fn)
            def generator(*args: Any) -> Iterator[Any]:
                try:
                    yield from fn(*args)
                except CsvDataError as err:
                    raise refusal(err) from err

            return generator

        @functools.wraps(fn)
        def call(*args: Any) -> Any:
            try:
                return fn(*args)
            except CsvDataError as err:
                raise refusal(err) from err

        return call

    def api(fn: Any, inputs: list[Any], outputs: list[Any], api_name: str) -> None:
        """The API endpoint of `fn` (the pipeline's own messages) on a hidden button, as `run_controls` does."""
        gr.Button(visible=False, elem_classes=["mmhub-api"]).click(user_errors(fn), inputs, outputs,
                                                                   api_name=api_name, **queue)

    rebuild_outputs = [session_state, view, status_line, code, page_link, timer]
    rebuild = {"fn": page(apply, rebuild_outputs, stop_timer=True),
               "inputs": [session_state, seed, *view_flags, *controls], "outputs": rebuild_outputs,
               "api_visibility": "private"}
    user_changes = [dataset.input, csv_file.upload, csv_file.clear, features.input, activation.input,
                    learning_rate.input, regularization.input, rate.input,
                    *[s.release for s in sliders], *[s.input for s in sliders]]
    gr.on(user_changes, trigger_mode="always_last", **rebuild, **queue)
    problem.input(problem_changed, [problem, dataset, points], [dataset, points], api_visibility="private",
                  queue=False).then(**rebuild, **queue)
    gr.on([layers.input, layers.release], layers_changed, layers, neurons, api_visibility="private", queue=False)
    gr.on([show_test.input, discretize.input], page(redraw, [view, status_line]), [session_state, *view_flags],
          [view, status_line], api_visibility="private", trigger_mode="always_last", **queue)
    play_outputs = [session_state, status_line, timer]
    play_button.click(page(play, play_outputs, stop_timer=True), [session_state, seed, *view_flags, *controls],
                      play_outputs, api_visibility="private", **queue)
    tick_outputs = [session_state, view, status_line, timer]
    timer.tick(page(tick, tick_outputs, stop_timer=True), [session_state, speed, *view_flags], tick_outputs,
               api_visibility="private", concurrency_limit=MAX_TICKS, concurrency_id="playground_tick",
               show_progress="hidden")
    pause_button.click(pause, session_state, timer, api_visibility="private", queue=False).then(
        page(paused, [view, status_line]), [session_state, *view_flags], [view, status_line],
        api_visibility="private", **queue)
    # Step and Reset stop a play first (the timer, at once), then do their work through the queue
    step_inputs, step_outputs = [session_state, seed, *view_flags, *controls], [session_state, view, status_line]
    step_button.click(pause, session_state, timer, api_visibility="private", queue=False).then(
        page(step, step_outputs), step_inputs, step_outputs, api_visibility="private", **queue)
    api(step, step_inputs, step_outputs, "playground_step")
    reset_outputs = [session_state, view, status_line, code, page_link]
    reset_button.click(pause, session_state, timer, api_visibility="private", queue=False).then(
        page(reset, reset_outputs), step_inputs, reset_outputs, api_visibility="private", **queue)
    api(reset, step_inputs, reset_outputs, "playground_reset")
    regenerate_outputs = [session_state, view, status_line, code, page_link, timer, seed]
    regenerate_button.click(page(regenerate, regenerate_outputs, stop_timer=True),
                            [session_state, *view_flags, *controls], regenerate_outputs, api_visibility="private",
                            **queue)
    preset_outputs = [session_state, view, status_line, code, page_link, timer, seed, problem, dataset, csv_file,
                      ratio, noise, points, batch, features, layers, *neurons, activation, learning_rate,
                      regularization, rate, show_test, discretize]
    preset_button.click(page(preset, preset_outputs, stop_timer=True), session_state, preset_outputs,
                        api_visibility="private", **queue)
    export_inputs, export_outputs = [session_state, seed, *controls], [session_state, export_file, status_line]
    export_button.click(page(export, export_outputs), export_inputs, export_outputs, api_visibility="private",
                        **queue)
    api(export, export_inputs, export_outputs, "playground_export")


def _choices(names: tuple[str, ...], t: Any) -> list[tuple[str, str]]:
    """The data sets' names as the page writes them (in the UI's language: `t`)."""
    return [(t(f"set_{name}"), name) for name in names]


def _number(value: Any) -> Any:
    """A dropdown's or slider's value as a number (gradio may send "0.03"); anything else goes on to the check."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


SPACE = SpaceSpec(
    name="playground",
    title={"en": "Playground", "pl": "Plac zabaw"},
    tasks=("playground",),
    build=build,
    concurrency_limit=4,
    requirements=("torch", "safetensors", "huggingface-hub", "numpy", "pillow"),
    emoji="🧮",
    description="TensorFlow Playground in PyTorch: classification and regression you can watch learning.",
    order=85,
    group="basics",
)


def main(argv: list[str] | None = None) -> None:
    from .launcher import run

    run([SPACE], argv, prog="python -m spaces.playground", title="mmhub · playground")


if __name__ == "__main__":
    main()
