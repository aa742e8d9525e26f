"""The task class every Polish task uses (``class: !function fork_task.PolishTask``): lm-eval 0.4.13's
`ConfigurableTask` with the two behaviours of the leaderboard's harness that 0.4.13 does differently.

1. Few-shot draw (FORK = speakleash/lm-evaluation-harness, branch polish4 / polish4_shuf, based on lm-eval 0.4.2:
   ``lm_eval/api/samplers.py`` ``ContextSampler.get_context`` / ``get_chat_context``). For every document the fork
   draws ``n + 1`` examples when ``fewshot_split == test_split`` and ``n`` otherwise (``rnd.sample(docs, k)``, or
   the first ``k`` docs for ``sampler: first_n``), then removes the document itself and keeps the first ``n``:
   ``[x for x in fewshotex if x != doc][:num_fewshot]``. The current document is therefore never one of its own
   shots, whatever the split -- and when it was drawn from an ``n``-sized draw, it gets ``n - 1`` shots.
   lm-eval 0.4.13 (``api/task.py`` ``fewshot_context``) only removes it when ``fewshot_split == test_split``; a task
   with no few-shot split that falls back to its test docs (``polish_belebele_regex``: training and validation
   splits null, FORK ``polish_belebele/belebele_regex.yaml``) could see itself among its shots there.
   The random stream is the same: ``random.Random(fewshot_random_seed=1234)`` per task, one ``sample`` per document
   in evaluation order (FORK ``api/task.py`` ``set_fewshot_seed``; 0.4.13 ``ContextSampler.set_rnd``).
2. Evaluation documents can be replaced (`set_eval_docs`): the runner installs the fork's shuffled order for
   ``--limit`` runs (FORK commit dac2087a "shuffle dataset if limit", ``evaluator.py``; see ``eval.runner``).

lm-eval imports this file by path (``!function``), so it must not import mmhub.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lm_eval.api.samplers import ContextSampler, FirstNSampler
from lm_eval.api.task import ConfigurableTask


class ForkSampler(ContextSampler):
    """The fork's few-shot draw: ``n`` (or ``n + 1`` on the test split) examples, minus the current document.

    Args:
        df: the few-shot documents (the task's few-shot split, in dataset order).
        first_n (`bool`): take the first documents instead of a random sample (``sampler: first_n``).
        extra (`bool`): draw one more than asked, as the fork does when ``fewshot_split == test_split``.
    """

    def __init__(self, df: Sequence[dict[str, Any]] | None = None, *, first_n: bool = False, extra: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(df, **kwargs)
        self.first_n, self.extra = first_n, extra
        self.current: dict[str, Any] | None = None

    def sample(self, n: int, eval_doc: dict[str, Any] | None = None, df: Sequence[dict[str, Any]] | None = None,
               **kwargs: Any) -> list[dict[str, Any]]:
        if n <= 0:
            return []
        docs = self.fewshot_docs()
        k = n + 1 if self.extra else n
        drawn = list(docs[:k]) if self.first_n else self.rnd.sample(docs, k)
        current = self.current if eval_doc is None else eval_doc
        return [doc for doc in drawn if doc != current][:n]


class PolishTask(ConfigurableTask):
    """`ConfigurableTask` with the fork's few-shot draw (`ForkSampler`) and replaceable evaluation documents."""

    def __init__(self, config: dict | None = None, **kwargs: Any) -> None:
        self._eval_docs_override: list[dict[str, Any]] | None = None
        config = {k: v for k, v in (config or {}).items() if k != "class"}
        super().__init__(config=config, **kwargs)
        if hasattr(self, "sampler"):
            self.sampler = ForkSampler(list(self.sampler.df), first_n=isinstance(self.sampler, FirstNSampler),
                                       extra=self.config.fewshot_split == self.config.test_split)

    @property
    def eval_docs(self):
        if self._eval_docs_override is not None:
            return self._eval_docs_override
        return super().eval_docs

    def set_eval_docs(self, docs: Sequence[dict[str, Any]] | None) -> None:
        """Evaluate `docs` (in this order) instead of the test / validation split; None restores the split."""
        self._eval_docs_override = None if docs is None else list(docs)

    def fewshot_context(self, doc: dict, num_fewshot: int, **kwargs: Any):
        if isinstance(getattr(self, "sampler", None), ForkSampler):
            self.sampler.current = doc  # lm-eval 0.4.13 passes the doc to the sampler only for test-split shots
        return super().fewshot_context(doc=doc, num_fewshot=num_fewshot, **kwargs)
