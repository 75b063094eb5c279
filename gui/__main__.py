"""`python -m gui [FILE] [--screenshot out.png] [--time T] [--blend A] [--benchmark] [--size WxH]`."""

import argparse
import sys


def parse(argv=None) -> dict:
    p = argparse.ArgumentParser(prog="python -m gui", description="GRC Studio")
    p.add_argument("path", nargs="?", help="a .grc model or a template folder")
    p.add_argument("--screenshot", help="render one frame to this PNG and exit")
    p.add_argument("--time", type=float)
    p.add_argument("--blend", help='one number for two templates ("0.5") or one weight per template ("0.2,0.3,0.5")')
    p.add_argument("--benchmark", action="store_true", help="measure update and frame times, then exit")
    p.add_argument("--size", help="window size WxH, e.g. 1280x800")
    a = p.parse_args(argv)
    size = tuple(int(v) for v in a.size.lower().split("x")) if a.size else None
    return dict(path=a.path, screenshot=a.screenshot, time=a.time, blend=a.blend, benchmark=a.benchmark, size=size)


if __name__ == "__main__":
    from .app import main

    sys.exit(main(**parse()))
