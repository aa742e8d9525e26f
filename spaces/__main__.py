"""mmhub's Gradio app: every pipeline as a tab; or export one Space as a Hugging Face Space folder.

    python -m spaces                                  # http://127.0.0.1:7860, all tabs
    python -m spaces --models tiny --lang pl          # offline, tiny random models (noise), Polish UI
    python -m spaces --host 0.0.0.0 --auth me:secret --max-file-size 50mb
    python -m spaces export sentiment build/space-sentiment   # then: cd build/space-sentiment && python app.py
"""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["export"]:
        from .export import main as export_main

        export_main(argv[1:])
        return
    from .app import discover_spaces
    from .launcher import run

    run(discover_spaces(), argv, prog="python -m spaces", title="mmhub", description=__doc__)


if __name__ == "__main__":
    main()
