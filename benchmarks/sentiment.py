"""mmhub sentiment vs the raw transformers pipeline on the same classifier and 64 short reviews.

    python -m benchmarks.sentiment [--quick]

Three ways: the raw `pipeline("text-classification")` called once per review; the raw pipeline given the whole
list with `batch_size=8`; and mmhub (length-sorted batches padded to each batch's longest, inference mode).
Two randomly initialised BERT geometries (realistic compute, no download): MiniLM-sized (6 layers, hidden 384)
and BERT-base-sized (12 layers, hidden 768), where the CPU is compute-bound and batching gains little.
"""

from __future__ import annotations

import random
import tempfile

import torch
from transformers import BertConfig, BertForSequenceClassification, pipeline

from benchmarks.common import compare, parser, print_table
from pipelines import load

WORDS = ("great product works perfectly terrible broke after one day battery quality price delivery fast slow "
         "świetny produkt polecam okropna jakość nie dostawa szybka wolna cena bardzo dobry zły").split()
GEOMETRIES = {"MiniLM-sized (6x384)": (6, 384, 12), "BERT-base-sized (12x768)": (12, 768, 12)}


def reviews(n: int, seed: int = 0) -> list[str]:
    """Short product reviews: 4 to 30 words, like one-line Amazon titles and comments."""
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 30))).capitalize() + "." for _ in range(n)]


def build_classifier(folder: str, layers: int, hidden: int, heads: int) -> None:
    """A randomly initialised BERT classifier with a byte-level BPE tokenizer trained on such reviews (as a real
    checkpoint's tokenizer knows its language: about one token per word)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    torch.manual_seed(0)
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=2000, special_tokens=["<s>", "<pad>", "</s>", "<unk>"],
                                  show_progress=False, initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(reviews(2000, seed=1), trainer=trainer)
    tok.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0))
    tok = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", pad_token="<pad>", eos_token="</s>",
                                  unk_token="<unk>", cls_token="<s>", sep_token="</s>", model_max_length=512)
    labels = {0: "negative", 1: "neutral", 2: "positive"}
    config = BertConfig(vocab_size=len(tok), hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                        intermediate_size=4 * hidden, pad_token_id=tok.pad_token_id, id2label=labels,
                        label2id={v: k for k, v in labels.items()})
    BertForSequenceClassification(config).save_pretrained(folder)
    tok.save_pretrained(folder)


def bench_geometry(name: str, layers: int, hidden: int, heads: int, texts: list[str], repeat: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        build_classifier(folder, layers, hidden, heads)
        raw = pipeline("text-classification", model=folder, top_k=None, device="cpu", truncation=True)
        clf = load("sentiment", model=folder, device="cpu")
        rows = compare({
            "raw pipeline, one review per call": lambda: [raw(t) for t in texts],
            "raw pipeline(texts, batch_size=8)": lambda: raw(texts, batch_size=8),
            "mmhub clf(texts)": lambda: clf(texts),
        }, repeat)
    print_table(f"{name}, {len(texts)} reviews", rows, baseline="raw pipeline(texts, batch_size=8)")
    (_, one_by_one), (_, batched), (_, ours) = rows
    print(f"  mmhub speed-up: {one_by_one / ours:.2f}x over one by one, {batched / ours:.2f}x over the raw batched "
          f"pipeline")


def main(argv: list[str] | None = None) -> None:
    args = parser(__doc__).parse_args(argv)
    texts, repeat = (reviews(16), 2) if args.quick else (reviews(64), 5)
    for name, geometry in GEOMETRIES.items():
        bench_geometry(name, *geometry, texts, repeat)


if __name__ == "__main__":
    main()
