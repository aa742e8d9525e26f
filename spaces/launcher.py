"""Launch options and the server: one Space alone or several as tabs, behind a queue with per-tab limits.

    python -m spaces.sentiment --models tiny --lang pl          # one Space
    python -m spaces --port 7860 --auth user:secret             # all of them as tabs (spaces/app.py)
    python -m spaces --allow-local-models ~/models              # the model field may load folders under ~/models
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any

import gradio as gr

from .common import CSS, GROUPS, Context, ModelCache, SpaceBlocks, SpaceSpec, page_assets
from .options import add_launch_arguments, auth, fail, parse_launch_args, port_busy_message, port_free

__all__ = ["CSS", "add_launch_arguments", "build_blocks", "context_from_args", "launch", "main_for", "parse_auth",
           "run", "serve"]

logger = logging.getLogger(__name__)


def parse_auth(value: str | tuple[str, str] | None) -> tuple[str, str] | None:
    """``USER:PASSWORD`` as a pair (None when not given); `argparse.ArgumentTypeError` when malformed."""
    if not value:
        return None
    return value if isinstance(value, tuple) else auth(value)


def context_from_args(args: argparse.Namespace) -> Context:
    max_bytes = int(args.max_model_memory * 2**30) if args.max_model_memory else None
    llm = getattr(args, "llm", None)
    loader = {} if llm is None else {"loader": llm.loader()}
    return Context(lang=args.lang, models=args.models, cache=ModelCache(args.max_models, max_bytes, **loader),
                   local_model_dirs=tuple(args.allow_local_models), llm=llm)


def build_blocks(specs: Sequence[SpaceSpec], ctx: Context, title: str = "mmhub") -> gr.Blocks:
    """One Space alone, or several as tabs, with the tiny banner on top when the app runs tiny models."""
    if not specs:
        raise ValueError("no Space to build")
    # gradio keeps a copy of every file a handler returns (pictures, audio, video) until the server restarts;
    # a long-running Space drops those older than a day, checked every hour
    with SpaceBlocks(title=title, analytics_enabled=False, delete_cache=(3600, 86400)) as demo:
        ctx.banner()
        if len(specs) == 1:
            gr.Markdown(f"# {specs[0].emoji} {specs[0].title[ctx.lang]}")
            specs[0].build(ctx)
        else:
            gr.Markdown(f"# {title}")
            # tabs that do not fit wrap onto a second row (a phone sees every group, not a "…" menu)
            with gr.Tabs(overflow_behavior="wrap"):
                for entry in tab_layout(specs):
                    if isinstance(entry, SpaceSpec):
                        with gr.Tab(f"{entry.emoji} {entry.title[ctx.lang]}", id=entry.name):
                            entry.build(ctx)
                        continue
                    group, members = entry
                    texts = GROUPS[group]
                    with gr.Tab(f"{texts['emoji']} {texts[ctx.lang]}", id=f"group-{group}"):
                        if len(members) == 1:  # a group of one is that tab
                            members[0].build(ctx)
                            continue
                        with gr.Tabs(overflow_behavior="wrap"):
                            for spec in members:
                                with gr.Tab(f"{spec.emoji} {spec.title[ctx.lang]}", id=spec.name):
                                    spec.build(ctx)
    return demo


def tab_layout(specs: Sequence[SpaceSpec]) -> list[SpaceSpec | tuple[str, list[SpaceSpec]]]:
    """The app's top-level tabs: ungrouped Spaces as they are; a group as ``(key, members)`` at its first member."""
    layout: list[SpaceSpec | tuple[str, list[SpaceSpec]]] = []
    groups: dict[str, list[SpaceSpec]] = {}
    for spec in specs:
        if spec.group is None:
            layout.append(spec)
            continue
        if spec.group not in GROUPS:
            raise ValueError(f"Space {spec.name!r}: unknown group {spec.group!r}; known: {', '.join(GROUPS)}")
        if spec.group not in groups:
            groups[spec.group] = []
            layout.append((spec.group, groups[spec.group]))
        groups[spec.group].append(spec)
    return layout


def launch(demo: gr.Blocks, args: argparse.Namespace, **overrides: Any) -> Any:
    """Queue (one slot per tab unless the Space says otherwise) and serve `demo` with the parsed options."""
    demo.queue(default_concurrency_limit=1, max_size=args.queue_size)
    options: dict[str, Any] = {
        "server_name": args.host, "server_port": args.port, "share": args.share, "auth": parse_auth(args.auth),
        "max_file_size": args.max_file_size, "ssr_mode": False, "footer_links": ["api", "settings"],
        **page_assets(args.lang),  # the status line's look and clock, <html lang>, canvas names
    }
    logger.info("serving on http://%s:%d%s", args.host, args.port, " (tiny models)" if args.models else "")
    for folder in getattr(args, "allow_local_models", []):
        logger.info("the model field may load folders under %s", folder)
    return demo.launch(**(options | overrides))


def resolve_lazy_imports() -> None:
    """Resolve transformers' lazily imported classes once, before requests arrive.

    Handlers run in gradio's worker threads; two of them resolving transformers' lazy attributes at the same time
    (the Chat tab reading a config on page load while the Sentiment tab imports its pipeline) can make one fail with
    "cannot import name 'AutoConfig' from 'transformers'". Resolved here, the names are plain module attributes.
    """
    import transformers

    for name in ("AutoConfig", "AutoTokenizer", "AutoProcessor", "AutoModel", "AutoModelForCausalLM",
                 "AutoModelForSequenceClassification", "pipeline"):
        getattr(transformers, name)


def serve(specs: Sequence[SpaceSpec], args: argparse.Namespace, prog: str, title: str = "mmhub") -> Any:
    """Build and serve `specs` with checked options; a port in use is one ``error:`` line and exit code 2."""
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    busy = port_busy_message(args)
    if not port_free(args.host, args.port):  # before building every tab
        fail(prog, busy)
    demo = build_blocks(specs, context_from_args(args), title=title)
    resolve_lazy_imports()
    try:
        return launch(demo, args)
    except OSError as err:  # gradio: "Cannot find empty port ..." (taken meanwhile)
        logger.debug("launch failed", exc_info=err)
        fail(prog, busy)


def run(specs: Sequence[SpaceSpec], argv: Sequence[str] | None = None, prog: str | None = None,
        title: str = "mmhub", description: str | None = None) -> None:
    """Parse the launch options from `argv` (a bad one: one ``error:`` line, exit 2) and serve `specs`."""
    prog = prog or "python -m spaces"
    args = parse_launch_args(argv, prog=prog, description=description or __doc__)
    serve(specs, args, prog=prog, title=title)


def main_for(spec: SpaceSpec) -> Callable[[Sequence[str] | None], None]:
    """The ``main(argv)`` of a Space module: ``main = main_for(SPACE)`` serves that Space alone.

    The program name follows the package the Space lives in (``spaces``, or ``mmhub_space`` in an exported folder).
    """
    package = __name__.rpartition(".")[0]

    def main(argv: Sequence[str] | None = None) -> None:
        prog = "python app.py" if package != "spaces" else f"python -m {package}.{spec.name}"
        run([spec], sys.argv[1:] if argv is None else argv, prog=prog,
            title=f"mmhub · {spec.title['en'].lower()}", description=sys.modules[spec.build.__module__].__doc__)

    main.__doc__ = f"Serve the {spec.title['en']} Space alone (options: --help)."
    return main
