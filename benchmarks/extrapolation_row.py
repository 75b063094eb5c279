"""The README's row of extrapolated shapes: models and linear shape keys at one time, blends beyond
the templates, each shape coloured by its verdict (grc.coherence), all at one scale and camera.

    python benchmarks/extrapolation_row.py MODEL [MODEL ...] --labels "old model,new model" \
        --time 0.8 --blends=-1,0,1,1.5,2 -o docs/images/extrapolation-row.png

The last row is always the first model's templates as linear shape keys (what Blender gives)."""

from __future__ import annotations

import argparse

import grc
from grc.coherence import Coherence, shape_keys
from grc.plots import plot_shape_rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+")
    parser.add_argument("--labels", default="", help="comma-separated row labels (default: the file names)")
    parser.add_argument("--time", type=float, default=0.8)
    parser.add_argument("--blends", default="-1,0,1,1.5,2")
    parser.add_argument("-o", "--output", required=True)
    args = parser.parse_args(argv)
    blends = [float(b) for b in args.blends.split(",")]
    labels = args.labels.split(",") if args.labels else args.models
    models = [grc.load_model(m) for m in args.models]
    coherence = Coherence.for_model(models[0], subdivide=2)
    t = args.time
    rows = []
    for label, model in zip(labels, models):
        rows.append((label, [(f"blend {b:g}", g, coherence.verdict(g, t)) for b in blends for g in [model.shape(t, b)]]))
    keys = [shape_keys(models[0].templates, t, b) for b in blends]
    rows.append(("linear shape keys", [(f"blend {b:g}", g, coherence.verdict(g, t)) for b, g in zip(blends, keys)]))
    for label, shapes in rows:
        print(f"{label:>20}: " + ", ".join(f"{c} {v}" for c, _, v in shapes))
    plot_shape_rows(rows, args.output, title=f"Time {t:g}: shapes beyond the templates (green coherent, "
                                            "amber strained, red broken)")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
