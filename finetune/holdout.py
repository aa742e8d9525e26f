"""How many examples every trainer holds out for validation when the data has no validation split: one rule.

A fraction of the training rows (``--validation-fraction``, default 10 %), at most ``--validation-size`` rows (the
cap: 1000 for the LM, 5000 for sentiment and the 28x28 lab models), at least one, and never all of them. So a
small data set trains without a flag (540 rows hold out 54), and a large one holds out the cap (MNIST's 60,000
training pictures hold out 5,000, as before). Used by `finetune.data` (sentiment), `finetune.lm_data` (LM) and
`finetune.image_data` (digits CNN, VAE, GAN); the SD LoRA trainer holds nothing out (5-30 pictures).

>>> from finetune.holdout import validation_count
>>> validation_count(540, cap=1000), validation_count(100_000, cap=1000), validation_count(3, cap=1000)
(54, 1000, 1)
"""

from __future__ import annotations

from dataclasses import field
from typing import Any

#: The share of the training rows held out when the data has no validation split.
DEFAULT_FRACTION = 0.1


def validation_count(rows: int, cap: int, fraction: float = DEFAULT_FRACTION, where: str = "the data") -> int:
    """Rows to hold out of `rows`: ``floor(fraction * rows)``, at most `cap`, at least 1, leaving one to train on.

    A `DataError` naming `where` when there are fewer than 2 rows (nothing can be spared).
    """
    if isinstance(rows, bool) or not isinstance(rows, int) or rows < 2:
        from finetune.data import DataError  # finetune.data imports this module

        raise DataError(f"{where}: {rows} usable rows: too few to hold out a validation set and train on the rest; "
                        f"pass a validation split or more data.")
    if not 0 < fraction < 1:
        raise ValueError(f"fraction must be in (0, 1); got {fraction!r}")
    if cap < 1:
        raise ValueError(f"cap must be >= 1; got {cap!r}")
    return max(1, min(int(cap), int(fraction * rows), rows - 1))


def fraction_field() -> Any:
    """The ``--validation-fraction`` flag every trainer's argument dataclass declares."""
    return field(default=DEFAULT_FRACTION, metadata={
        "help": "Share of the training rows held out for validation when the data has no validation split "
                "(at most --validation-size rows)."})


def check_fraction(value: Any) -> float:
    """``--validation-fraction`` in (0, 0.5]: a `finetune.run.UsageError` naming the flag otherwise."""
    from finetune.run import UsageError
    from pipelines import validate
    from pipelines.errors import InputError

    try:
        return validate.number("--validation-fraction", value, low=0, high=0.5, low_open=True,
                               hint="e.g. 0.1 holds out a tenth of the training rows.")
    except InputError as err:
        raise UsageError(str(err)) from None
