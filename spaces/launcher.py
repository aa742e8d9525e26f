"""Launch options and the server: one Space alone or several as tabs, behind a queue with per-tab limits.

    python -m spaces.sentiment --models tiny --lang pl          # one Space
    python -m spaces --port 7860 --auth user:secret             # all of them as tabs (spaces/app.py)
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Sequence
from typing import Any

import gradio as gr

from .common import GROUPS, LANGUAGES, Context, ModelCache, SpaceSpec, env_host

logger = logging.getLogger(__name__)

CSS = ".mmhub-tiny-banner { border: 2px solid #f59e0b; border-radius: 8px; padding: 0 12px; }"


def add_launch_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The options every Space takes (the tabbed app and each Space alone, also in an exported folder)."""
    parser.add_argument("--host", default=env_host(),
                        help="address to listen on (default 127.0.0.1, or $GRADIO_SERVER_NAME); 0.0.0.0 = all")
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)),
                        help="port (default 7860, or $GRADIO_SERVER_PORT)")
    parser.add_argument("--share", action="store_true", help="also open a temporary public gradio.live link")
    parser.add_argument("--auth", metavar="USER:PASSWORD", help="require this login")
    parser.add_argument("--models", choices=["tiny"], default=os.environ.get("MMHUB_MODELS") or None,
                        help="'tiny': tiny random models, fully offline (their output is noise)")
    parser.add_argument("--lang", choices=LANGUAGES, default="en", help="UI language (default en)")
    parser.add_argument("--max-file-size", default="200mb", help="largest upload accepted (default 200mb)")
    parser.add_argument("--max-models", type=int, default=2, help="models kept loaded at once (default 2)")
    parser.add_argument("--max-model-memory", type=float, default=None, metavar="GB",
                        help="weights kept loaded at most, in GB (default: half the machine's memory)")
    parser.add_argument("--queue-size", type=int, default=256, help="requests waiting at most (default 256)")
    parser.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    return parser


def parse_auth(value: str | None) -> tuple[str, str] | None:
    if not value:
        return None
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        raise argparse.ArgumentTypeError(f"--auth must be USER:PASSWORD; got {value!r}")
    return user, password


def context_from_args(args: argparse.Namespace) -> Context:
    max_bytes = int(args.max_model_memory * 2**30) if args.max_model_memory else None
    return Context(lang=args.lang, models=args.models, cache=ModelCache(args.max_models, max_bytes))


def build_blocks(specs: Sequence[SpaceSpec], ctx: Context, title: str = "mmhub") -> gr.Blocks:
    """One Space alone, or several as tabs, with the tiny banner on top when the app runs tiny models."""
    if not specs:
        raise ValueError("no Space to build")
    with gr.Blocks(title=title, analytics_enabled=False) as demo:
        ctx.banner()
        if len(specs) == 1:
            gr.Markdown(f"# {specs[0].emoji} {specs[0].title[ctx.lang]}")
            specs[0].build(ctx)
        else:
            gr.Markdown(f"# {title}")
            with gr.Tabs():
                for entry in tab_layout(specs):
                    if isinstance(entry, SpaceSpec):
                        with gr.Tab(f"{entry.emoji} {entry.title[ctx.lang]}", id=entry.name):
                            entry.build(ctx)
                        continue
                    group, members = entry
                    texts = GROUPS[group]
                    with gr.Tab(f"{texts['emoji']} {texts[ctx.lang]}", id=f"group-{group}"), gr.Tabs():
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
        "max_file_size": args.max_file_size, "ssr_mode": False, "css": CSS, "footer_links": ["api", "settings"],
    }
    logger.info("serving on http://%s:%d%s", args.host, args.port, " (tiny models)" if args.models else "")
    return demo.launch(**(options | overrides))


def run(specs: Sequence[SpaceSpec], argv: Sequence[str] | None = None, prog: str | None = None,
        title: str = "mmhub", description: str | None = None) -> None:
    """Parse the launch options from `argv` and serve `specs` (what `python -m spaces.<task>` calls)."""
    parser = add_launch_arguments(argparse.ArgumentParser(
        prog=prog, description=description or __doc__, formatter_class=argparse.RawDescriptionHelpFormatter))
    args = parser.parse_args(argv)
    try:
        parse_auth(args.auth)
    except argparse.ArgumentTypeError as err:
        parser.error(str(err))
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    launch(build_blocks(specs, context_from_args(args), title=title), args)
