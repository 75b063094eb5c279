"""`python -m gui [FILE] [--screenshot out.png] [--time T] [--blend A] [--benchmark] [--size WxH] [--look FILE]`
(the options of `grc studio`)."""

import argparse
import sys

SIZE_RANGE = (320, 16384)  # px: a window's width and height with --size


def window_size(text: str | None) -> tuple[int, int] | None:
    """'1280x800' -> (1280, 800); None -> None. A GRCError naming --size for anything else."""
    if text is None:
        return None
    from grc import GRCError

    parts = str(text).lower().replace("×", "x").split("x")
    try:
        size = tuple(int(p.strip()) for p in parts)
    except ValueError:
        size = ()
    if len(size) != 2:
        raise GRCError(f"expected WIDTHxHEIGHT in pixels, e.g. 1280x800, got {text!r}", field="--size")
    low, high = SIZE_RANGE
    if not all(low <= v <= high for v in size):
        raise GRCError(f"expected a width and height from {low} to {high} pixels, got {text!r}", field="--size")
    return size


def parse(argv=None) -> dict:
    p = argparse.ArgumentParser(prog="python -m gui", description="GRC Studio")
    p.add_argument("path", nargs="?", help="a .grc model or a template folder")
    p.add_argument("--screenshot", help="render one frame to this PNG and exit")
    p.add_argument("--time", type=float)
    p.add_argument("--blend", help='one number for two templates ("0.5") or one weight per template ("0.2,0.3,0.5")')
    p.add_argument("--benchmark", action="store_true", help="measure update and frame times, then exit")
    p.add_argument("--size", help="window size WxH, e.g. 1280x800")
    p.add_argument("--look", help="a look (grc-look/1) to open with the model (Explore > Bend)")
    a = p.parse_args(argv)
    from grc import GRCError

    try:
        size = window_size(a.size)
    except GRCError as e:
        p.error(str(e))
    return dict(path=a.path, screenshot=a.screenshot, time=a.time, blend=a.blend, benchmark=a.benchmark, size=size,
                look=a.look)


if __name__ == "__main__":
    from .app import main

    sys.exit(main(**parse()))
