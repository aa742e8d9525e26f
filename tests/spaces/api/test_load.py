"""A bounded load run against ``python -m spaces --models tiny`` (asyncio + httpx): 32 clients at once, 4 requests
each, on the sentiment routes of both conventions and the model list; none lost. A 429 is the server's documented
answer past its queue (``--api-queue``, here 1 per task) and is retried after its ``Retry-After``, as the ``openai``
SDK does; anything else (a 5xx, a dropped connection, a wrong answer) is a loss."""

from __future__ import annotations

import asyncio
import collections
import statistics
import time

import httpx

CLIENTS, EACH = 32, 4
MAX_TRIES = 30  # per request: Retry-After is honoured each time


async def _one(http: httpx.AsyncClient, n: int, stats: collections.Counter, seconds: list[float]) -> bool:
    kind = n % 3
    started = time.perf_counter()
    for _ in range(MAX_TRIES):
        if kind == 0:
            answer = await http.post("/models/text-classification", json={"inputs": f"Great product number {n}!"})
        elif kind == 1:
            answer = await http.post("/models/sentiment/tiny", json={"inputs": [f"Awful {n}.", f"Fine {n}."]})
        else:
            answer = await http.get("/v1/models")
        stats[answer.status_code] += 1
        if answer.status_code == 429:
            await asyncio.sleep(float(answer.headers["retry-after"]))
            continue
        seconds.append(time.perf_counter() - started)
        if answer.status_code != 200:
            return False
        body = answer.json()
        if kind == 2:
            return any(card["id"] == "tiny" for card in body["data"])
        labels = [{entry["label"] for entry in ranked} for ranked in body]
        return len(body) == (1 if kind == 0 else 2) and all(s == {"negative", "neutral", "positive"} for s in labels)
    return False


async def _run(url: str, headers: dict[str, str]) -> tuple[list[bool], collections.Counter, list[float]]:
    stats: collections.Counter = collections.Counter()
    seconds: list[float] = []
    limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=120, limits=limits) as http:
        async def client(c: int) -> list[bool]:
            return [await _one(http, c * EACH + i, stats, seconds) for i in range(EACH)]

        results = await asyncio.gather(*(client(c) for c in range(CLIENTS)))
    return [ok for batch in results for ok in batch], stats, seconds


def test_32_concurrent_clients_lose_nothing(api):
    started = time.perf_counter()
    results, stats, seconds = asyncio.run(_run(api.url, api.headers))
    elapsed = time.perf_counter() - started
    assert len(results) == CLIENTS * EACH and all(results), (results.count(False), stats)
    assert set(stats) <= {200, 429}, stats
    seconds.sort()
    print(f"{len(results)} requests from {CLIENTS} clients in {elapsed:.1f} s: {dict(stats)}; p50 "
          f"{statistics.median(seconds) * 1000:.0f} ms, p99 {seconds[int(0.99 * (len(seconds) - 1))] * 1000:.0f} ms "
          f"(429s included, retried after Retry-After)")
    assert httpx.get(f"{api.url}/health").status_code == 200
