"""The `grc` command's entry point. Importing the CLI (numpy, typer) takes a few tenths of a second; a Ctrl+C (or
SIGTERM) meanwhile waits until it is imported (an import cut short can leave numpy half-loaded, which then
reports a bad install), and the command ends there: the same one line and exit 130 as later, not a traceback.
`grc.cli.main` does the rest."""

import signal
import sys


def main() -> int:
    stopped = []
    previous = {sig: signal.signal(sig, lambda signum, frame: stopped.append(signum))
                for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        from .cli import INTERRUPTED, main as run
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if stopped:
        print("grc: interrupted; nothing written", file=sys.stderr, flush=True)
        return INTERRUPTED
    return run()
