"""`grc`: the command line. Thin: it parses, calls the library, prints.

A user's mistake (a missing file, a malformed template, an unknown option value, a damaged model)
ends in one line on stderr naming the file, the field and what was expected, and exit code 2.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import numpy as np
import typer

try:  # newer typer carries its own copy of click
    from typer._click.exceptions import NoArgsIsHelpError, UsageError
except ImportError:
    from click.exceptions import NoArgsIsHelpError, UsageError

from .config import PRESETS, Config
from .errors import GRCError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  rich_markup_mode=None, help="GRC Studio: templates in, a continuous space of forms out.")
templates_app = typer.Typer(no_args_is_help=True, help="Check and import template sets.")
app.add_typer(templates_app, name="templates")

EXPORT_FORMATS = (".obj", ".ply", ".stl", ".glb")


def numbers(text: str | None, field: str) -> np.ndarray | None:
    """'0.5' or '0.2,0.3,0.5' -> array; anything else is the user's mistake, named by field."""
    if text is None:
        return None
    try:
        values = np.array([float(v) for v in text.split(",")])
    except ValueError:
        raise GRCError(f"expected a number or comma-separated numbers, got {text!r}", field=field) from None
    if not np.all(np.isfinite(values)):
        raise GRCError(f"expected finite numbers, got {text!r}", field=field)
    return values


def check_output(path: Path, suffixes, field="output") -> Path:
    if path.suffix.lower() not in suffixes:
        raise GRCError(f"expected a file ending in {', '.join(suffixes)}", path=path, field=field)
    if not path.parent.is_dir():
        raise GRCError(f"folder {path.parent} does not exist", path=path, field=field)
    return path


def with_settings(config: Config, settings: list[str]) -> Config:
    """Apply `--set KEY=VALUE` settings, checked like a model file's config."""
    values = config.to_json()
    for item in settings:
        key, sep, text = item.partition("=")
        if not sep or key not in values or key == "preset":
            raise GRCError(f"expected KEY=VALUE with KEY one of {', '.join(k for k in values if k != 'preset')}, "
                           f"got {item!r}", field="--set")
        if isinstance(values[key], list):
            value = [int(v) if v.strip().isdigit() else v for v in text.split(",")]
        else:
            try:
                value = json.loads(text)
            except json.JSONDecodeError:
                value = text
        values[key] = value
    return Config.from_json(values, "--set") if settings else config


def load_model(path: Path):
    from .model import load_model

    return load_model(path)


def metrics_table(metrics: dict) -> str:
    ex = metrics["extrapolation"]
    lines = [
        f"template fit RMSE      {metrics['template_fit_rmse']:.4f}",
        f"reconstruction RMSE    {metrics['reconstruction_rmse']:.4f}",
        "trace separation       " + ", ".join(f"t={t}: {v:.3f}" for t, v in metrics["trace_separation"].items()),
        f"interpolation error    {metrics['interpolation_error']:.3f}"
        + "  (" + ", ".join(f"{a}: {v:.3f}" for a, v in metrics["interpolation_error_per_alpha"].items()) + ")",
        "extrapolation          " + ", ".join(f"blend {a} -> {v:.2f}" for a, v in ex.items()),
    ]
    return "\n".join(lines)


# -- commands --------------------------------------------------------------------------------------


@app.command()
def train(
    templates: Path = typer.Argument(..., help="A template set folder."),
    output: Path = typer.Option(..., "-o", "--output", help="The model file to write (.grc)."),
    preset: str = typer.Option("default", help=f"Settings preset: {', '.join(PRESETS)}."),
    context_dims: Optional[int] = typer.Option(None, "--context-dims", help="Context values per row (0 = no context)."),
    seed: Optional[int] = typer.Option(None, help="Random seed (same seed, same machine: same model)."),
    steps: Optional[int] = typer.Option(None, help="Encoder/decoder training steps."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Rows per step."),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
    threads: int = typer.Option(1, help="CPU threads (one suits these small networks best)."),
    settings: list[str] = typer.Option([], "--set", help="Any other setting as KEY=VALUE, e.g. decoder_hidden=128,128 "
                                                        "(see `grc.Config`); repeatable."),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="No progress bar or summary."),
):
    """Train a GRC model on a template set and save it."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from .metrics import evaluate
    from .templates import load_template_set
    from .training import train as train_model

    check_output(output, (".grc",))
    config = Config.from_preset(preset, context_dims=context_dims, seed=seed, steps=steps, batch_size=batch_size)
    config = with_settings(config, settings)
    template_set = load_template_set(templates)
    labels = {"templates": "template models", "relational": "encoder + decoder", "refine": "refine (weighted)"}
    with Progress(TextColumn("{task.description:<18}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                  TextColumn("loss {task.fields[loss]:.2e}"), TimeElapsedColumn(),
                  console=_console(), disable=quiet, transient=False) as bar:
        tasks = {}

        def callback(p):
            if p.phase not in tasks:
                tasks[p.phase] = bar.add_task(labels[p.phase], total=p.total, loss=p.loss)
            bar.update(tasks[p.phase], completed=p.step, loss=p.loss)

        model = train_model(template_set, config, device=device, callback=callback, threads=threads)
    model.save(output)
    if not quiet:
        typer.echo(f"saved {output} ({model.info['seconds']:.1f} s of training)")
        typer.echo(metrics_table(evaluate(model)))


@app.command("evaluate")
def evaluate_command(
    model_file: Path = typer.Argument(..., help="A .grc model file."),
    as_json: bool = typer.Option(False, "--json", help="Print the metrics as JSON."),
):
    """Quality metrics of a trained model."""
    from .metrics import evaluate

    metrics = evaluate(load_model(model_file))
    typer.echo(json.dumps(metrics, indent=2) if as_json else metrics_table(metrics))


@app.command()
def traces(
    model_file: Path = typer.Argument(..., help="A .grc model file."),
    output: Path = typer.Option(..., "-o", "--output", help="The plot to write (.png, .svg, .pdf)."),
    time: Optional[float] = typer.Option(None, help="Plot one time step's traces and blends (Figure 6)."),
):
    """Plot the templates' context traces (the article's Figure 5, or Figure 6 with --time)."""
    from .plots import plot_traces

    check_output(output, (".png", ".svg", ".pdf"))
    plot_traces(load_model(model_file), output, time)
    typer.echo(f"wrote {output}")


@app.command()
def export(
    model_file: Path = typer.Argument(..., help="A .grc model file."),
    output: Path = typer.Option(..., "-o", "--output", help="The mesh to write (.obj, .ply, .stl, .glb)."),
    time: float = typer.Option(0.8, help="Time on the relational map."),
    blend: str = typer.Option("0", help="One number for two templates (0 = first, 1 = second; beyond extrapolates), "
                                        "or one weight per template, comma-separated."),
    context: Optional[str] = typer.Option(None, help="Raw context values instead of a blend (expert)."),
    morph_samples: Optional[int] = typer.Option(None, "--morph-samples", help="Rows per petal (default: the templates')."),
    subdivide: int = typer.Option(0, help="Subdivision Surface levels, 0-3."),
    flower: int = typer.Option(1, help="Petals arranged around the Z axis."),
    thickness: float = typer.Option(0.0, help="Give the surface this thickness."),
    animate: Optional[str] = typer.Option(None, help="Sweep 'time' or 'blend' into GLB morph targets (shape keys)."),
    frames: int = typer.Option(9, help="Morph targets in a sweep."),
    start: Optional[str] = typer.Option(None, help="Where a sweep starts (default: first time / first template)."),
    stop: Optional[str] = typer.Option(None, help="Where a sweep stops (default: last time / second template)."),
):
    """Export a shape (or a sweep with --animate) as a mesh Blender opens."""
    from .shapes import export_animation
    from .sweeps import SWEEPS
    from .shapes import export as export_shape

    if animate is not None and animate not in SWEEPS:
        raise GRCError(f"expected one of {', '.join(SWEEPS)}, got {animate!r}", field="--animate")
    check_output(output, (".glb",) if animate else EXPORT_FORMATS)
    if not np.isfinite(time):
        raise GRCError(f"expected a finite number, got {time}", field="--time")
    model = load_model(model_file)
    options = dict(morph=morph_samples, subdivide=subdivide, petals=flower, thickness=thickness)
    if animate:
        cast = float if animate == "time" else (lambda s: numbers(s, "--start/--stop"))
        export_animation(model, output, sweep=animate, frames=frames, time=time, blend=numbers(blend, "--blend"),
                         start=None if start is None else cast(start), stop=None if stop is None else cast(stop),
                         **options)
    else:
        export_shape(model, output, time, numbers(blend, "--blend"), context=numbers(context, "--context"), **options)
    typer.echo(f"wrote {output}")


@app.command()
def info(path: Path = typer.Argument(..., help="A .grc model file or a template set folder.")):
    """Describe a model file or a template set."""
    from .templates import load_template_set

    if path.is_dir():
        s = load_template_set(path)
        lines = [f"template set  {path}", *_set_lines(s)]
    else:
        m = load_model(path)
        c, i = m.config, m.info
        lines = [f"model         {path}", f"version       {i.get('grc_version', '?')}", *_set_lines(m.templates),
                 f"preset        {c.preset}, context dims {c.context_dims}, seed {c.seed}",
                 f"networks      template {list(c.template_hidden)}, encoder {list(c.encoder_hidden)}, "
                 f"decoder {list(c.decoder_hidden)}",
                 f"training      {c.steps} steps x {c.batch_size} rows, {i.get('seconds', '?')} s on "
                 f"{i.get('device', '?')}, {i.get('trained_at', '?')}"]
    typer.echo("\n".join(lines))


def _set_lines(s) -> list[str]:
    T, M, N = s.grid_shape
    return [f"templates     {len(s)}: {', '.join(s.names)}",
            f"grid          {T} time steps x {M} rows x {N} points",
            f"time          {_values(s.time)}", f"morph         {_values(s.morph)}"]


def _values(v) -> str:
    return "[" + ", ".join(f"{x:g}" for x in v) + "]"


@templates_app.command("validate")
def templates_validate(folder: Path = typer.Argument(..., help="A template set folder.")):
    """Check a template set: formats, finite numbers, shared grid size and relational map."""
    from .templates import load_template_set

    s = load_template_set(folder)
    T, M, N = s.grid_shape
    typer.echo(f"{folder}: ok, {len(s)} templates ({', '.join(s.names)}), {T} time steps x {M} rows x {N} points")


@templates_app.command("import")
def templates_import(
    name: str = typer.Argument(..., help="The new template's name."),
    files: list[Path] = typer.Argument(..., help="One row-layout .json, or one grid file (.json/.obj/.ply) per time step, in order."),
    output: Path = typer.Option(..., "-o", "--output", help="The template set folder to add it to (created if new)."),
    time: Optional[str] = typer.Option(None, help="The time values, comma-separated (default: evenly 0..1)."),
    morph: Optional[str] = typer.Option(None, help="The morph values, comma-separated (default: evenly 0..1)."),
    scale: float = typer.Option(1.0, help="Multiply every coordinate by this."),
    rows: Optional[int] = typer.Option(None, help="Morph rows per OBJ/PLY grid (default: square)."),
    replace: bool = typer.Option(False, "--replace", help="Replace the set's template of this name, in its place "
                                 "in the blend order (without it, a name already in the set is refused)."),
):
    """Convert files into a template and add it to a template set folder (or replace one there)."""
    from .templates import check_set, import_files, load_template, template_filename

    template = import_files(name, files, time=numbers(time, "--time"), morph=numbers(morph, "--morph"),
                            scale=scale, rows=rows)
    if output.exists() and not output.is_dir():
        raise GRCError("expected a folder", path=output, field="--output")
    paths = sorted(output.glob("*.json")) if output.is_dir() else []
    existing = [load_template(f) for f in paths]
    names = [t.name for t in existing]
    if name in names and not replace:
        raise GRCError(f"the set already has a template named {name!r} (--replace replaces it)", path=output,
                       field="name")
    index = names.index(name) if name in names else len(existing)
    templates = existing[:index] + [template] + existing[index + 1:]
    if len(templates) >= 2:
        check_set(templates, output)
    output.mkdir(parents=True, exist_ok=True)
    target = template.save(paths[index] if index < len(paths) else output / template_filename(index, name))
    typer.echo(f"{'replaced' if index < len(paths) else 'wrote'} {target}")


@app.command()
def studio(
    path: Optional[Path] = typer.Argument(None, help="A .grc model or a template set folder (default: the petal)."),
    screenshot: Optional[Path] = typer.Option(None, help="Render one frame to this PNG and exit."),
    time: Optional[float] = typer.Option(None, help="Time for --screenshot."),
    blend: Optional[str] = typer.Option(None, help="Blend for --screenshot."),
    benchmark: bool = typer.Option(False, help="Measure slider-to-pixels times and print them."),
):
    """Open the GRC Studio desktop app."""
    import os

    if sys.platform.startswith("linux") and not any(os.environ.get(v) for v in
                                                     ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")):
        raise GRCError("no display to open a window on (no DISPLAY); on a headless machine run it under "
                       "xvfb-run, e.g. xvfb-run -a grc studio --screenshot out.png", field="studio")
    try:
        from gui.app import main as studio_main
    except ImportError as e:
        raise GRCError(f"the desktop app is not available ({e}); install PyQt5 and pyvistaqt", field="studio") from None
    code = studio_main(None if path is None else str(path), screenshot=None if screenshot is None else str(screenshot),
                       time=time, blend=blend, benchmark=benchmark)
    raise typer.Exit(code)


@app.command("blender-addon")
def blender_addon(output: Path = typer.Option("grc_blender.zip", "-o", "--output", help="The add-on zip to write.")):
    """Write the Blender add-on (install it with Blender's Install from Disk)."""
    from .blender import build_addon

    check_output(output, (".zip",))
    typer.echo(f"wrote {build_addon(output)}")


def _console():
    from rich.console import Console

    return Console(stderr=True)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; GRCError and usage mistakes become one stderr line and exit code 2."""
    command = typer.main.get_command(app)
    try:
        result = command.main(args=argv, prog_name="grc", standalone_mode=False)
    except GRCError as e:
        print(f"grc: {e}", file=sys.stderr)
        return 2
    except NoArgsIsHelpError as e:
        print(e.ctx.get_help())
        return 0
    except UsageError as e:
        where = f"{e.ctx.command_path}: " if e.ctx else "grc: "
        print(f"{where}{e.format_message()}", file=sys.stderr)
        return 2
    except typer.Exit as e:
        return e.exit_code
    except typer.Abort:
        print("grc: aborted", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("grc: interrupted; nothing was written", file=sys.stderr)
        return 130
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())
