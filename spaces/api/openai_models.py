"""``GET /v1/models`` and ``GET /v1/models/{model}``: what this server can run, in OpenAI's model-list shape.

The list holds the registry's models of every task (``python -m pipelines list``), the tiny stand-ins when the server
runs ``--models tiny``, the LLM server's model with ``--llm-endpoint``, and the finished local fine-tuning runs
(``mmhub_run.json``, `finetune.catalog`) under the folders the operator allowed with ``--allow-local-models``; never
any other path of the server. OpenAI's fields (``id``, ``object``, ``created``, ``owned_by``) come with mmhub's
``task`` (the first task the model serves), ``tasks``, ``licence`` and ``commercial_use``. ``created`` is the run's
time for local runs and 0 where unknown (registry models).

    curl http://127.0.0.1:7860/v1/models
"""

from __future__ import annotations

import datetime
import logging
from typing import Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from pipelines import TASKS

from ..common import Context
from .errors import ApiError
from .service import Service, get_service

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/v1", tags=["openai"])


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int = 0
    owned_by: str
    task: str
    tasks: list[str]
    licence: str | None = None
    commercial_use: bool | None = None


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


def _timestamp(text: str) -> int:
    try:
        return int(datetime.datetime.fromisoformat(text).timestamp())
    except (TypeError, ValueError):
        return 0


def model_cards(ctx: Context) -> list[ModelCard]:
    """Every model this server offers, one card per id (a model serving two tasks lists both in ``tasks``)."""
    cards: dict[str, ModelCard] = {}

    def add(model_id: str, task: str, owner: str, created: int = 0, licence: str | None = None,
            commercial: bool | None = None) -> None:
        if model_id in cards:
            if task not in cards[model_id].tasks:
                cards[model_id].tasks.append(task)
            return
        cards[model_id] = ModelCard(id=model_id, created=created, owned_by=owner, task=task, tasks=[task],
                                    licence=licence, commercial_use=commercial)

    for spec in TASKS.values():
        if spec.name == "text-generation" and ctx.llm is not None:
            if ctx.llm.model:
                add(ctx.llm.model, spec.name, "llm-endpoint")
            continue
        if ctx.tiny:
            for variant in spec.tiny_variants:
                add(variant, spec.name, "mmhub", licence="none: tiny random weights, the output is noise",
                    commercial=True)
        for info in spec.models:
            owner = info.id.split("/")[0] if "/" in info.id else "mmhub"
            add(info.id, spec.name, owner, licence=info.licence, commercial=info.commercial_use)
    if ctx.local_model_dirs:
        try:
            from finetune.catalog import list_runs
        except ImportError:  # an exported copy without the finetune package
            list_runs = None
        for run in list_runs([str(d) for d in ctx.local_model_dirs]) if list_runs else []:
            if run.task in TASKS:
                add(run.path, run.task, "local", _timestamp(run.created), licence="yours (trained locally)")
    return list(cards.values())


@router.get("/models", response_model=ModelList, summary="List the models (OpenAI: models.list)")
def list_models(service: Service = Depends(get_service)) -> ModelList:
    return ModelList(data=model_cards(service.ctx))


@router.get("/models/{model:path}", response_model=ModelCard, summary="One model (OpenAI: models.retrieve)")
def retrieve_model(model: str, service: Service = Depends(get_service)) -> ModelCard:
    for card in model_cards(service.ctx):
        if card.id == model:
            return card
    raise ApiError(404, f"The model {model!r} does not exist on this server; GET /v1/models lists them.",
                   param="model", code="model_not_found")
