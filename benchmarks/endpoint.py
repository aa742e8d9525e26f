"""Text generation through an OpenAI-compatible server vs the local pipeline, on the same tiny model.

    python -m benchmarks.endpoint [--quick]

Starts ``transformers serve`` on the tiny GPT-2 (the test server, `tests.servers`) and times, with the same greedy
settings: one prompt (16 new tokens); 16 prompts (the local pipeline pads one batch; the remote one sends 16
concurrent requests, which transformers serve runs one after another: vLLM would batch them); and the first streamed
chunk. The tiny model computes almost nothing, so the figures are the cost of the HTTP round trip and the
server's own per-request work, an upper bound of mmhub's overhead on a real model.
"""

from __future__ import annotations

from benchmarks.common import compare, parser, print_table
from pipelines import load

PROMPTS = ["Ala ma kota", "Zażółć gęślą jaźń", "The quick brown fox", "Dawno, dawno temu"] * 4


def main(argv: list[str] | None = None) -> None:
    args = parser(__doc__).parse_args(argv)
    repeat = 3 if args.quick else 7
    from tests.servers import transformers_serve

    with transformers_serve(("tiny",)) as server:
        local = load("text-generation", model="tiny", device="cpu")
        remote = load("text-generation", model="tiny", endpoint=server.api, max_concurrency=16)
        settings = {"max_new_tokens": 16, "temperature": 0}
        assert remote(PROMPTS[0], **settings) == local(PROMPTS[0], **settings)
        rows = compare({
            "local: one prompt": lambda: local(PROMPTS[0], **settings),
            "endpoint: one prompt": lambda: remote(PROMPTS[0], **settings),
            "local: 16 prompts, one padded batch": lambda: local(PROMPTS, **settings),
            "endpoint: 16 prompts, 16 concurrent requests": lambda: remote(PROMPTS, **settings),
            "local: first streamed chunk": lambda: next(iter(local(PROMPTS[1], stream=True, **settings))),
            "endpoint: first streamed chunk": lambda: next(iter(remote(PROMPTS[1], stream=True, **settings))),
        }, repeat)
    print_table("tiny GPT-2, 16 new tokens, greedy", rows, baseline="local: one prompt")
    times = dict(rows)
    print(f"  endpoint / local: one prompt {times['endpoint: one prompt'] / times['local: one prompt']:.2f}x, "
          f"16 prompts {times['endpoint: 16 prompts, 16 concurrent requests'] / times['local: 16 prompts, one padded batch']:.2f}x, "  # noqa: E501
          f"first chunk {times['endpoint: first streamed chunk'] / times['local: first streamed chunk']:.2f}x")


if __name__ == "__main__":
    main()
