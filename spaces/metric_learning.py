"""Clustering and metric learning Space: k-means on raw pixels against k-means on embeddings learned with a softmax
and a triplet loss, three maps side by side, the scores; find the pictures most like a drawing; train a loss live.

    python -m spaces.metric_learning                  # local:metric-learning (python -m finetune.metric --loss ...)
    python -m spaces.metric_learning --models tiny    # offline: the tiny twin (two networks trained in seconds)

"Compare" clusters the 359 test digits of scikit-learn's set (MNIST-like, offline) in each representation
(`pipelines.metric_learning`): a t-SNE or PCA map of each, coloured by the true class, and a table of ARI, NMI,
silhouette and k-NN accuracy. "Find similar" draws (or uploads) a digit and shows its nearest pictures in the
chosen representation. "Train it now" trains one loss (`python -m finetune.metric`'s loop) with a live loss curve.
Each sub-tab runs on the app's run controls (`spaces.common.run_controls`): a Stop button, one status line with the
progress, the outcome and the seed used, and refusals in a person's words. Stop ends a comparison with the maps made
so far, and a training early with the network as it is (saved). The trained network is saved where
``local:metric-learning`` points (with ``--models tiny``: in the tiny-model cache) and the other sub-tabs use it.

API (gradio_client): ``/metric_compare`` (model, pictures, clusters, k, map, seed) -> pixels map, softmax map,
triplet map, scores, summary (with the seed used); ``/metric_similar`` (model, drawing, upload, representation, k)
-> neighbours, the picture as the network sees it, text; ``/metric_train`` (loss, dataset, epochs, max pictures,
seed, replace) -> streamed: loss curve, report, model. Outside ``--models tiny`` a network already trained with the
loss is replaced only when "Replace the trained model" (``replace``, default False) is ticked.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr

from .common import (
    KEEP,
    Context,
    Run,
    SpaceSpec,
    draw_seed,
    image_input,
    run_controls,
    seed_input,
    whole,
)
from .inside import ERROR_TEXTS as TRAIN_ERRORS
from .inside import brush_at_once, enlarge_digit, refuse_replacing, replace_checkbox

logger = logging.getLogger(__name__)

TASK = "metric-learning"
LOCAL = "local:metric-learning"
SLOTS = ("pixels", "softmax", "triplet")  # the three maps: the softmax slot shows normalized-softmax, else arcface
LOSSES = ("triplet", "normalized-softmax", "arcface")
TEST_PICTURES = 359  # scikit-learn's digits, test split
MAX_EPOCHS = 30
CURVE_EVERY_S = 0.5  # the live curve is redrawn at most this often
#: tab10, so that a class has the same colour on the three maps (and as matplotlib draws it in the pipeline's figure)
COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf")

TEXTS = {
    "en": {
        "explain": "**Clustering** groups pictures without being told their classes; **k-means** does it by distance, "
                   "so everything depends on the space the distances are measured in. Raw pixels make a poor space: "
                   "two 7s written a little apart share few pixels. **Metric learning** trains a network to map "
                   "pictures to points where same-class pictures are close: the **triplet loss** pulls an *anchor* "
                   "towards a *positive* (same class) and pushes a *negative* (another class) at least a *margin* "
                   "further, on the hard-enough triplets a miner finds in each batch; the **softmax** family "
                   "(normalized softmax, ArcFace) classifies by the angle to one learned direction per class, which "
                   "also gathers each class around it. The losses are "
                   "[pytorch-metric-learning](https://github.com/KevinMusgrave/pytorch-metric-learning)'s.",
        "compare_tab": "Compare", "similar_tab": "Find similar", "train_tab": "Train it now",
        "pictures": "Pictures (test digits)", "clusters": "Clusters (k-means)", "k": "Neighbours k (k-NN accuracy)",
        "projection": "Map", "tsne": "t-SNE (keeps neighbours together)", "pca": "PCA (linear, instant)",
        "cluster": "Cluster and map",
        "map_explain": "Each dot is a picture, coloured by its **true** class; k-means never sees the colours. "
                       "**ARI** (adjusted Rand index) and **NMI** (normalised mutual information) say how well the "
                       "k-means clusters match the classes (1 = exactly; ARI ≈ 0 = chance); the **silhouette** how "
                       "compact and apart the clusters are (−1 to 1, no labels needed); **k-NN accuracy** how often "
                       "a picture's k nearest pictures of the 1,438 training digits vote for its class. t-SNE keeps "
                       "each picture's nearest neighbours near it, so groups show as groups; the distances *between* "
                       "groups and their sizes mean nothing there. PCA keeps the two directions of largest spread.",
        "pixels": "Pixels", "normalized-softmax": "Normalized softmax", "arcface": "ArcFace", "triplet": "Triplet",
        "softmax": "Softmax", "representation": "representation", "ari": "ARI", "nmi": "NMI",
        "silhouette": "silhouette", "knn": "k-NN accuracy", "class": "class", "scores": "Scores",
        "missing_slot": "{name}: not trained yet: train it in *Train it now*",
        "not_reached": "{name}: not mapped (stopped)",
        "compared": "{n} pictures · {clusters} clusters · {k}-NN · {map} · seed {seed}",
        "comparing": "{name}: {stage} (step {step} of {total})", "stage_embed": "computing the vectors",
        "stage_cluster": "k-means and the scores", "stage_map": "drawing the map",
        "compared_count": "{count} representation compared|{count} representations compared",
        "sketch": "Draw a digit", "upload": "…or upload a picture",
        "find": "Find similar", "neighbours": "Nearest pictures", "search_in": "Search in",
        "seen": "As the network sees it",
        "found": "The {k} nearest of 1,438 training digits in **{name}**: {labels}",
        "found_count": "{count} nearest picture|{count} nearest pictures",
        "loss": "Loss", "dataset": "Dataset",
        "dataset_info": "sklearn-digits (offline, 1,797 small digits), a Hub id (ylecun/mnist), or a local folder in "
                        "the MNIST schema.",
        "epochs": "Epochs", "max_samples": "Use at most this many training pictures (0 = all)",
        "train": "Train",
        "train_explain": "Pick a loss and press **Train**: the curve shows the training loss as it falls. At the end "
                         "the network is scored on the test digits and saved; *Compare* and *Find similar* then use "
                         "it.",
        "curve": "Training loss", "step": "step", "series": "curve", "train_loss": "training loss",
        "training": "Step {step:,} of {total:,} · epoch {epoch:.1f} · loss {loss:.4f}{validation}",
        "validation": " · validation ARI {ari:.3f}, {k}-NN accuracy {knn:.1%}",
        "done": "✅ {loss} trained on {source} for {steps} ({seconds:.1f} s){stopped}. Test pictures: ARI "
                "**{ari:.3f}** (pixels {pixels_ari:.3f}), NMI **{nmi:.3f}** (pixels {pixels_nmi:.3f}), {k}-NN "
                "accuracy **{knn:.1%}**. Saved to `{folder}`.",
        "stopped": ", stopped early", "steps_count": "{count:,} step|{count:,} steps",
        "steps_saved": "{count:,} step, the network is saved|{count:,} steps, the network is saved",
        "train_failed": "Training failed: {error}", "trained_here": "trained here",
        "tiny_note": "⚠️ Tiny stand-ins: two small networks trained for seconds on the training digits.",
    },
    "pl": {
        "explain": "**Klasteryzacja** grupuje obrazki bez znajomości ich klas; **k-średnich** (k-means) robi to "
                   "według odległości, więc wszystko zależy od przestrzeni, w której je mierzymy. Surowe piksele to "
                   "słaba przestrzeń: dwie siódemki napisane trochę obok siebie mają niewiele wspólnych pikseli. "
                   "**Uczenie metryki** (distance metric learning) uczy sieć przenosić obrazki w punkty, w których "
                   "obrazki tej samej klasy leżą blisko: **strata trójkowa** (triplet loss) przyciąga *kotwicę* do "
                   "*przykładu pozytywnego* (ta sama klasa) i odpycha *negatywny* (inna klasa) co najmniej o "
                   "*margines* dalej, na dość trudnych trójkach, które w każdej partii znajduje górnik (miner); "
                   "rodzina **softmax** (znormalizowany softmax, ArcFace) klasyfikuje według kąta do jednego "
                   "wyuczonego kierunku na klasę, co też skupia każdą klasę wokół niego. Funkcje strat pochodzą z "
                   "[pytorch-metric-learning](https://github.com/KevinMusgrave/pytorch-metric-learning).",
        "compare_tab": "Porównaj", "similar_tab": "Znajdź podobne", "train_tab": "Wytrenuj teraz",
        "pictures": "Obrazki (cyfry testowe)", "clusters": "Klastry (k-średnich)",
        "k": "Sąsiedzi k (trafność k-NN)", "projection": "Mapa", "tsne": "t-SNE (trzyma sąsiadów razem)",
        "pca": "PCA (liniowa, natychmiastowa)", "cluster": "Grupuj i rysuj",
        "map_explain": "Każda kropka to obrazek w kolorze jego **prawdziwej** klasy; k-średnich nigdy nie widzi "
                       "kolorów. **ARI** (skorygowany indeks Randa) i **NMI** (znormalizowana informacja wzajemna) "
                       "mówią, jak dobrze klastry odpowiadają klasom (1 = dokładnie; ARI ≈ 0 = przypadek); "
                       "**sylwetka** (silhouette): jak zwarte i odległe od siebie są klastry (od −1 do 1, bez "
                       "etykiet); **trafność k-NN**: jak często k najbliższych obrazków spośród 1438 cyfr "
                       "treningowych głosuje na klasę obrazka. t-SNE trzyma najbliższych sąsiadów każdego obrazka "
                       "obok niego, więc grupy widać jako grupy; odległości *między* grupami i ich rozmiary nic tam "
                       "nie znaczą. PCA zachowuje dwa kierunki największego rozrzutu.",
        "pixels": "Piksele", "normalized-softmax": "Znormalizowany softmax", "arcface": "ArcFace",
        "triplet": "Triplet (trójkowa)", "softmax": "Softmax", "representation": "reprezentacja", "ari": "ARI",
        "nmi": "NMI", "silhouette": "sylwetka", "knn": "trafność k-NN", "class": "klasa", "scores": "Wyniki",
        "missing_slot": "{name}: jeszcze niewytrenowany: wytrenuj go w zakładce *Wytrenuj teraz*",
        "not_reached": "{name}: bez mapy (zatrzymano)",
        "compared": "obrazków: {n} · klastrów: {clusters} · {k}-NN · {map} · ziarno {seed}",
        "comparing": "{name}: {stage} (krok {step} z {total})", "stage_embed": "obliczanie wektorów",
        "stage_cluster": "k-średnich i wyniki", "stage_map": "rysowanie mapy",
        "compared_count": "porównano {count} reprezentację|porównano {count} reprezentacje|porównano {count} "
                          "reprezentacji",
        "sketch": "Narysuj cyfrę", "upload": "…albo wgraj obrazek",
        "find": "Znajdź podobne", "neighbours": "Najbliższe obrazki", "search_in": "Szukaj w",
        "seen": "Tak widzi to sieć",
        "found": "{k} najbliższych spośród 1438 cyfr treningowych w reprezentacji **{name}**: {labels}",
        "found_count": "{count} najbliższy obrazek|{count} najbliższe obrazki|{count} najbliższych obrazków",
        "loss": "Funkcja straty", "dataset": "Zbiór danych",
        "dataset_info": "sklearn-digits (offline, 1797 małych cyfr), identyfikator z Hub (ylecun/mnist) albo lokalny "
                        "folder w schemacie MNIST.",
        "epochs": "Epoki", "max_samples": "Użyj najwyżej tylu obrazków treningowych (0 = wszystkie)",
        "train": "Trenuj",
        "train_explain": "Wybierz funkcję straty i naciśnij **Trenuj**: wykres pokazuje, jak spada strata treningu. "
                         "Na końcu sieć jest oceniana na cyfrach testowych i zapisywana; zakładki *Porównaj* i "
                         "*Znajdź podobne* jej wtedy używają.",
        "curve": "Strata treningu", "step": "krok", "series": "krzywa", "train_loss": "strata treningu",
        "training": "Krok {step} z {total} · epoka {epoch:.1f} · strata {loss:.4f}{validation}",
        "validation": " · walidacja: ARI {ari:.3f}, trafność {k}-NN {knn:.1%}",
        "done": "✅ {loss} wytrenowany na {source}: {steps} ({seconds:.1f} s){stopped}. Obrazki testowe: "
                "ARI **{ari:.3f}** (piksele {pixels_ari:.3f}), NMI **{nmi:.3f}** (piksele {pixels_nmi:.3f}), "
                "trafność {k}-NN **{knn:.1%}**. Zapisano w `{folder}`.",
        "stopped": ", zatrzymano wcześniej", "steps_count": "{count} krok|{count} kroki|{count} kroków",
        "steps_saved": "{count} krok, sieć jest zapisana|{count} kroki, sieć jest zapisana|{count} kroków, sieć jest "
                       "zapisana",
        "train_failed": "Trening nie powiódł się: {error}", "trained_here": "wytrenowany tutaj",
        "tiny_note": "⚠️ Małe modele zastępcze: dwie małe sieci trenowane kilka sekund na cyfrach treningowych.",
    },
}

#: Refusals in a person's words (`spaces.common.ERRORS`' shape), by the argument the check names; the API keeps the
#: pipeline's own message. "Train now" shares the trained-model panels' ``exists`` (`spaces.inside.ERROR_TEXTS`).
ERROR_TEXTS = {
    "en": {
        **TRAIN_ERRORS["en"],
        "image:missing": "Draw a digit or upload a picture first.",
        "image": "This picture cannot be used: draw a digit with at least one stroke, or upload a PNG, JPEG or WebP "
                 "file.",
        "representation": "The network picked under “Search in” is not trained in this model yet: train it in “Train "
                          "it now”, or search in the pixels.",
    },
    "pl": {
        **TRAIN_ERRORS["pl"],
        "image:missing": "Najpierw narysuj cyfrę albo wgraj obrazek.",
        "image": "Tego obrazka nie da się użyć: narysuj cyfrę co najmniej jedną kreską albo wgraj plik PNG, JPEG lub "
                 "WebP.",
        "representation": "Sieć wybrana w polu „Szukaj w” nie jest jeszcze wytrenowana w tym modelu: wytrenuj ją w "
                          "zakładce „Wytrenuj teraz” albo szukaj w pikselach.",
    },
}


def live_target(ctx: Context) -> str:
    """Where live training writes (one sub-folder per loss): ``local:metric-learning``'s folder; with tiny models the
    tiny cache (a user's trained networks stay untouched)."""
    from pipelines import lab, tiny

    return str(tiny.cache_dir() / "metric-live") if ctx.tiny else lab.resolve(LOCAL)


def slot_representation(slot: str, available: list[str]) -> str | None:
    """The representation a map slot shows: ``softmax`` is normalized-softmax when trained, else arcface."""
    if slot == "softmax":
        return next((name for name in ("normalized-softmax", "arcface") if name in available), None)
    return slot if slot in available else None


def build(ctx: Context) -> None:
    import pandas as pd

    from pipelines import InputError

    t = lambda key, **kw: ctx.t(key, TEXTS, **kw)  # noqa: E731
    target = ctx.own_model(live_target(ctx))  # this Space writes it: the model field may load it
    default_model = "tiny" if ctx.tiny else LOCAL

    def scatter(result: Any, name: str) -> Any:
        points = result.maps[name]
        return pd.DataFrame({"x": points[:, 0], "y": points[:, 1], t("class"): result.map_classes()})

    def compare(model: str, pictures: float, clusters: float, k: float, projection: str, seed: Any, *,
                run: Run) -> Iterator[Any]:
        """Streams progress on the status line (Stop ends it after the stage in progress, with the maps made so
        far), then the three maps, the scores and the summary."""
        from pipelines import validate
        from pipelines.metric_learning import sklearn_digit_splits

        pictures = whole("pictures", pictures, 10, TEST_PICTURES)
        clusters = whole("n_clusters", clusters, 2, 20)
        k = whole("k", k, 1, 25)
        projection = validate.choice("projection", projection, ("tsne", "pca"))
        seed = draw_seed(seed)
        ml = yield from run.pipeline(TASK, model)
        images, labels = sklearn_digit_splits()["test"]

        def describe(step: int, total: int, info: dict[str, Any]) -> str:
            return t("comparing", name=t(info["representation"]), stage=t(f"stage_{info['stage']}"), step=step,
                     total=total)

        def work(report: Any) -> Any:
            return ml(images[:pictures], labels[:pictures], n_clusters=clusters, k=k, projection=projection,
                      seed=seed, progress=run.steps(describe))

        for kind, result in run.stream(work):
            if kind != "result":
                yield KEEP
                continue
            plots = []
            for slot in SLOTS:
                name = slot_representation(slot, result.representations)
                if name is not None and name in result.maps:
                    score = result.scores[name]
                    plots.append(gr.update(value=scatter(result, name),
                                           label=f"{t(name)} · ARI {score['ari']:.2f} · NMI {score['nmi']:.2f}"))
                    continue
                trained = slot_representation(slot, ml.representations)
                label = t("missing_slot", name=t(slot)) if trained is None else t("not_reached", name=t(trained))
                plots.append(gr.update(value=None, label=label))
            rows = [(t(row["representation"]), row["ari"], row["nmi"], row["silhouette"], row["knn_accuracy"])
                    for row in result.table()]
            table = pd.DataFrame(rows, columns=[t("representation"), t("ari"), t("nmi"), t("silhouette"), t("knn")])
            summary = t("compared", n=result.samples, clusters=result.n_clusters, k=result.k,
                        map="t-SNE" if projection == "tsne" else "PCA", seed=result.seed)
            run.finish(t("compared_count", count=len(result.representations)), seed=result.seed)
            yield (*plots, table.round(4), summary)

    def similar(model: str, sketch: Any, upload: Any, slot: str, k: float, *, run: Run) -> Iterator[Any]:
        from pipelines import validate

        slot = validate.choice("representation", slot, SLOTS)
        k = whole("k", k, 1, 32)
        picture = upload if upload is not None else sketch
        if picture is None or isinstance(picture, dict) and all(
                picture.get(key) is None or key == "layers" and not picture[key]
                for key in ("composite", "background", "layers")):
            raise InputError("image", None, "a drawing or an uploaded picture")
        ml = yield from run.pipeline(TASK, model)
        name = slot_representation(slot, ml.representations)
        if name is None:
            raise InputError("representation", slot, f"one this model has ({', '.join(ml.representations)})",
                             f"{slot} is not trained in this model yet: train it in Train it now, or pick pixels.")
        if upload is not None:
            from .common import read_image

            picture = read_image(upload, "image")
        found = ml.similar(picture, k=k, representation=name)
        gallery = [(enlarge_digit(p, 4), f"{n['class']} · {n['distance']:.3f}")
                   for n, p in zip(found.neighbours, found.pictures, strict=True)]
        text = t("found", k=k, name=t(name), labels=", ".join(n["class"] for n in found.neighbours))
        run.finish(t("found_count", count=len(found.neighbours)))
        yield gallery, enlarge_digit(found.query, 8), text

    def curve_frame(rows: list[tuple[int, float]]) -> Any:
        return pd.DataFrame([(step, loss, t("train_loss")) for step, loss in rows],
                            columns=[t("step"), t("loss"), t("series")])

    def train_live(loss: str, dataset: str, epochs: float, max_samples: float, seed: Any, replace: bool = False, *,
                   run: Run) -> Iterator[Any]:
        """Streams the live loss curve (progress on the status line; Stop saves the network as it is and ends the
        training), then the report and the model field pointed at the trained network. Outside tiny mode a network
        already trained with `loss` is replaced only when `replace` is ticked (the ``exists`` refusal)."""
        from finetune.data import DataError
        from finetune.metric import MetricArguments, main
        from finetune.run import UsageError
        from pipelines import lab, validate

        loss = validate.choice("loss", loss, LOSSES)
        epochs = whole("epochs", epochs, 1, MAX_EPOCHS)
        pictures = whole("max_samples", max_samples, 0, 10**9)
        seed = validate.integer("seed", draw_seed(seed), low=0, high=2**32 - 1)  # the trainer's range
        folder = str(Path(target) / loss)  # one network per loss: the others stay
        refuse_replacing(ctx, lab.is_trained(folder), replace, folder)
        try:
            args = MetricArguments(loss=loss, dataset=(dataset or "").strip() or "sklearn-digits",
                                   output_dir=folder, num_train_epochs=epochs,
                                   max_samples=pictures or None, seed=seed, logging_steps=5, eval_steps=50,
                                   save_steps=50, map_projection="none", overwrite=True)
        except UsageError as err:
            raise gr.Error(t("train_failed", error=err), print_exception=False) from err
        rows: list[tuple[int, float]] = []
        drawn = {"at": 0.0}
        metrics: dict[str, Any] = {}
        skip = gr.skip()

        def work(report: Any) -> dict[str, Any]:
            def on_step(step: int, total: int, info: dict[str, Any]) -> bool:
                if info.get("log"):
                    rows.append((info["log"]["step"], info["log"]["loss"]))
                validation = info.get("validation") or {}
                shown = t("validation", ari=validation["ari"], k=args.k, knn=validation["knn_accuracy"]) \
                    if validation else ""
                now = time.monotonic()
                if now - drawn["at"] >= CURVE_EVERY_S or step >= total:
                    drawn["at"] = now
                    report("curve")
                # False once Stop was pressed (or the stream was closed): the trainer saves and ends
                return run.report(step, total, t("training", step=step, total=total, epoch=info["epoch"],
                                                 loss=info["loss"], validation=shown))

            metrics = main(args, progress=on_step)
            ctx.cache.discard(TASK, target)
            ctx.cache.discard(TASK, LOCAL)
            return metrics

        yield None, "", skip  # a new curve and no old report for this run
        try:
            for kind, value in run.stream(work):
                if kind == "update":
                    yield curve_frame(rows), skip, skip
                elif kind == "result":
                    metrics = value
                else:
                    yield KEEP
        except (DataError, UsageError, FileExistsError, OSError) as err:
            raise gr.Error(t("train_failed", error=err), print_exception=False) from err
        test, split = metrics["test"], metrics["evaluation"]["test_split"]
        done = t("done", loss=t(loss), source=metrics["data"]["source"],
                 steps=t("steps_count", count=metrics["global_step"]), seconds=metrics["train_runtime_s"],
                 stopped=t("stopped") if metrics["stopped_early"] else "", ari=test[loss]["ari"],
                 nmi=test[loss]["nmi"], knn=test[loss]["knn_accuracy"], pixels_ari=test["pixels"]["ari"],
                 pixels_nmi=test["pixels"]["nmi"], k=metrics["evaluation"]["k"], folder=args.output_dir)
        logger.info("trained %s on %s (%s split scored)", loss, metrics["data"]["source"], split)
        run.finish(t("steps_saved", count=metrics["global_step"]), seed=seed, stopped=metrics["stopped_early"])
        yield curve_frame(rows), done, gr.update(value=LOCAL if not ctx.tiny else target)

    gr.Markdown(t("explain"))
    if ctx.tiny:
        gr.Markdown(t("tiny_note"))
    choices = ctx.model_choices(TASK)
    if ctx.tiny:
        choices.append((f"{target} ({t('trained_here')})", target))
    model = gr.Dropdown(choices, value=default_model, label=ctx.t("model"), info=ctx.t("model_info"),
                        allow_custom_value=True, elem_id="metric-model")
    brush_at_once("metric-sketch")
    colours = {str(i): colour for i, colour in enumerate(COLOURS)}
    with gr.Tabs():
        with gr.Tab(t("compare_tab"), id="metric-compare"):
            with gr.Row():
                pictures = gr.Slider(10, TEST_PICTURES, value=TEST_PICTURES, step=1, label=t("pictures"),
                                     elem_id="metric-pictures")
                clusters = gr.Slider(2, 20, value=10, step=1, label=t("clusters"), elem_id="metric-clusters")
                k = gr.Slider(1, 25, value=5, step=1, label=t("k"), elem_id="metric-k")
                projection = gr.Radio([(t("tsne"), "tsne"), (t("pca"), "pca")], value="tsne", label=t("projection"),
                                      elem_id="metric-projection")
                seed = seed_input(ctx, elem_id="metric-seed")
            compare_controls = run_controls(ctx, t("cluster"), elem_id="metric-run", stop=True, errors=ERROR_TEXTS)
            summary = gr.Markdown(elem_id="metric-summary")
            # one colour key for the three maps (each plot's own legend would repeat it, and vega-lite clips it)
            gr.HTML(f"<div id='metric-key' style='display:flex;gap:14px;flex-wrap:wrap;align-items:center'>"
                    f"<b>{t('class')}:</b>" + "".join(
                        f"<span><span style='color:{colour};font-size:1.3em'>●</span> {digit}</span>"
                        for digit, colour in colours.items()) + "</div>")
            with gr.Row():
                maps = [gr.ScatterPlot(x="x", y="y", color=t("class"), color_map=colours, colors_in_legend=[],
                                       label=t(slot), x_title=" ", y_title=" ", height=360,
                                       elem_id=f"metric-map-{slot}")
                        for slot in SLOTS]
            table = gr.Dataframe(label=t("scores"), interactive=False, elem_id="metric-scores")
            gr.Markdown(t("map_explain"))
        with gr.Tab(t("similar_tab"), id="metric-similar"):
            with gr.Row():
                with gr.Column():
                    sketch = gr.Sketchpad(label=t("sketch"), type="numpy", image_mode="RGBA", format="png",
                                          canvas_size=(280, 280), brush=gr.Brush(default_size=16, colors=["#000000"],
                                                                                 color_mode="fixed"),
                                          elem_id="metric-sketch", elem_classes=["mmhub-canvas"])
                    upload = image_input(label=t("upload"), type="pil", sources=["upload"], height=160,
                                         elem_id="metric-upload")
                with gr.Column():
                    slot = gr.Radio([(t(name), name) for name in SLOTS], value="triplet", label=t("search_in"),
                                    elem_id="metric-representation")
                    neighbours_k = gr.Slider(1, 32, value=8, step=1, label="k", elem_id="metric-similar-k")
                    find_controls = run_controls(ctx, t("find"), elem_id="metric-find", stop=True,
                                                 errors=ERROR_TEXTS)
                    seen = gr.Image(label=t("seen"), type="pil", format="png", interactive=False, height=200,
                                    elem_id="metric-seen")
            found_text = gr.Markdown(elem_id="metric-found")
            gallery = gr.Gallery(label=t("neighbours"), columns=8, height=220, format="png",
                                 elem_id="metric-neighbours")
        with gr.Tab(t("train_tab"), id="metric-train"):
            gr.Markdown(t("train_explain"))
            from huggingface_hub import constants

            with gr.Row():
                loss = gr.Dropdown([(t(name), name) for name in LOSSES], value="triplet", label=t("loss"),
                                   elem_id="metric-loss")
                dataset = gr.Textbox("sklearn-digits" if constants.HF_HUB_OFFLINE or ctx.tiny else "ylecun/mnist",
                                     label=t("dataset"), info=t("dataset_info"), elem_id="metric-dataset")
                epochs = gr.Slider(1, MAX_EPOCHS, value=3 if ctx.tiny else 10, step=1, label=t("epochs"),
                                   elem_id="metric-epochs")
                max_samples = gr.Number(0, label=t("max_samples"), precision=0, minimum=0, elem_id="metric-max")
                train_seed = seed_input(ctx, elem_id="metric-train-seed")
            replace = replace_checkbox(ctx, target, elem_id="metric-replace")
            train_controls = run_controls(ctx, t("train"), elem_id="metric-train-run", stop=True, errors=ERROR_TEXTS)
            report = gr.Markdown(elem_id="metric-trained")  # the report of a finished training
            curve = gr.LinePlot(x=t("step"), y=t("loss"), color=t("series"), label=t("curve"),
                                elem_id="metric-curve")

    compare_controls.click(compare, [model, pictures, clusters, k, projection, seed], [*maps, table, summary],
                           api_name="metric_compare", **SPACE.queue)
    find_controls.click(similar, [model, sketch, upload, slot, neighbours_k], [gallery, seen, found_text],
                        api_name="metric_similar", **SPACE.queue)
    train_controls.click(train_live, [loss, dataset, epochs, max_samples, train_seed, replace], [curve, report, model],
                         api_name="metric_train", concurrency_limit=1, concurrency_id="metric_training")


SPACE = SpaceSpec(
    name="metric_learning",
    title={"en": "Clustering & metric learning", "pl": "Klasteryzacja i uczenie metryki"},
    tasks=(TASK,),
    build=build,
    concurrency_limit=2,
    requirements=("torch", "safetensors", "huggingface-hub", "numpy", "pillow", "pandas", "matplotlib",
                  "scikit-learn", "pytorch-metric-learning", "datasets", "accelerate", "transformers", "psutil"),
    emoji="🧲",
    description="k-means on raw digits vs on triplet / softmax embeddings (pytorch-metric-learning): three maps, "
                "ARI / NMI / silhouette / k-NN accuracy, find similar, train a loss live.",
    order=105,
    group="basics",
    packages=("finetune",),
)


def main(argv: list[str] | None = None) -> None:
    from .launcher import run

    run([SPACE], argv, prog="python -m spaces.metric_learning", title="mmhub · Clustering & metric learning")


if __name__ == "__main__":
    main()
