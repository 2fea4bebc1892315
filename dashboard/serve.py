"""Start the dashboard with its heavy imports done before the first visitor arrives.

    python -m dashboard.serve [streamlit run options]     # make run
    python -m dashboard.serve --server.port 8502

The same server as ``streamlit run streamlit_app.py`` (Streamlit's own command line, in this
process), except that PyTorch, the core package, MediaPipe and nibabel
(:data:`dashboard.warmup.MODULES`) are imported first, as a preloading web server does: the
first visitor of a fresh server, whichever page's address they open, no longer waits about 2 s
for them. Models are still loaded when a page first needs them. Where the server is started by
someone else's command (Streamlit Community Cloud runs ``streamlit run``), the router starts the
same imports in the background on the first visit instead (:mod:`dashboard.warmup`).
"""
from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from dashboard import warmup

APP = Path(__file__).resolve().parents[1] / "streamlit_app.py"


def streamlit_argv(options: Sequence[str]) -> list[str]:
    """The command line Streamlit's CLI is given: ``streamlit run <app> <options>``."""
    return ["streamlit", "run", str(APP), *options]


def main(argv: Sequence[str] | None = None) -> int:
    options = sys.argv[1:] if argv is None else list(argv)
    seconds = warmup.preload()
    print(f"dashboard.serve: imports done in {seconds:.1f} s; starting Streamlit", file=sys.stderr,
          flush=True)
    from streamlit.web import cli

    sys.argv = streamlit_argv(options)
    return cli.main(prog_name="streamlit")  # click exits the process itself (SystemExit)


if __name__ == "__main__":
    raise SystemExit(main())
