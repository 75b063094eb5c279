"""`grc`: the command line. Thin: it parses, calls the library, prints.

What a user sees when something goes wrong (docs/reliability.md, "Command line"):
- a user's mistake, a limit passed, or an OS error (disk full, no permission, a folder in the way):
  one line on stderr naming the file, the field and what was expected, and exit code 2, found before
  any long work where it can be (every typed value is checked, every output is tried for writing);
- a write that fails after training keeps the trained model in the recovery folder and says where;
- Ctrl+C or SIGTERM: one line saying what was kept ("nothing written; <file> unchanged"), exit 130;
- anything unexpected: one line naming a log file that holds the traceback, exit 1.
"""

from __future__ import annotations

import contextlib
import gc
import json
import math
import os
import signal
import sys
import tempfile
import time as clock
import traceback
from pathlib import Path
from typing import Optional

import numpy as np
import typer

try:  # newer typer carries its own copy of click
    from typer._click.exceptions import NoArgsIsHelpError, UsageError
except ImportError:
    from click.exceptions import NoArgsIsHelpError, UsageError

from . import limits
from .config import PRESETS, Config
from .errors import GRCError, printable
from .io import name_too_long, recovery_folder, recovery_path

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  rich_markup_mode=None, help="GRC Studio: templates in, a continuous space of forms out.")
templates_app = typer.Typer(no_args_is_help=True, help="Check and import template sets.")
app.add_typer(templates_app, name="templates")

EXPORT_FORMATS = (".obj", ".ply", ".stl", ".glb")
MAX_THREADS = 1024  # --threads (more than any machine's cores)
MAX_SCALE = 1e6  # |--scale| of an import


# -- checking what the user typed ------------------------------------------------------------------


def number(value, field: str, low=None, high=None, integer=False):
    """A typed option value within its limit, else one line naming the option (grc.limits.number)."""
    return None if value is None else limits.number(value, field, low=low, high=high, integer=integer)


def numbers(text: str | None, field: str, limit: float | None = None, most: int = limits.MAX_TEMPLATES
            ) -> np.ndarray | None:
    """'0.5' or '0.2,0.3,0.5' -> array of finite numbers within +-limit; anything else names `field`."""
    if text is None:
        return None
    parts = text.split(",")
    if len(parts) > most:
        raise GRCError(f"expected at most {most} comma-separated numbers, got {len(parts)}", field=field)
    try:
        values = [float(v) for v in parts]
    except ValueError:
        raise GRCError(f"expected a number or comma-separated numbers, got {printable(repr(text), 80)}",
                       field=field) from None
    for v in values:
        limits.number(v, field, low=None if limit is None else -limit, high=limit)
    return np.array(values)


def check_output(path: Path, suffixes, field="--output") -> Path:
    """Before long work: the output has a known suffix and can be written (see check_writable)."""
    if path.suffix.lower() not in suffixes:
        raise GRCError(f"expected a file ending in {', '.join(suffixes)}", path=path, field=field)
    return check_writable(path, field)


def check_writable(path: Path, field="--output") -> Path:
    """Raise GRCError unless a file can be written at `path`: not a folder, its folder exists, and a
    file can be made there (tried: a temporary file is created and removed, which also finds a
    read-only or full file system that permissions alone would not show)."""
    folder = path.parent if str(path.parent) else Path(".")
    too_long = folder.is_dir() and name_too_long(path)
    if too_long:
        raise GRCError(too_long, path=path, field=field)
    if path.is_dir():
        raise GRCError("expected a file name, found a folder", path=path, field=field)
    if not folder.is_dir():
        raise GRCError(f"folder {printable(folder)} does not exist", path=path, field=field)
    _try_writing_in(folder, path, field)
    return path


def _try_writing_in(folder: Path, path: Path, field: str) -> None:
    try:
        fd, tmp = tempfile.mkstemp(prefix=".grc-check-", suffix=".tmp", dir=folder)
        os.close(fd)
        os.unlink(tmp)
    except OSError as e:
        raise GRCError(f"cannot write in {printable(folder)} ({e.strerror or e})", path=path, field=field) from None


def with_settings(config: Config, settings: list[str]) -> Config:
    """Apply `--set KEY=VALUE` settings, checked like a model file's config (grc.Config's limits)."""
    values = config.to_json()
    for item in settings:
        key, sep, text = item.partition("=")
        if not sep or key not in values or key == "preset":
            raise GRCError(f"expected KEY=VALUE with KEY one of {', '.join(k for k in values if k != 'preset')}, "
                           f"got {printable(repr(item), 80)}", field="--set")
        if isinstance(values[key], list):
            value = [_setting(v) for v in text.split(",")]
        else:
            value = _setting(text)
        values[key] = value
    return Config.from_json(values, "--set") if settings else config


def _setting(text: str):
    """A --set value: a JSON number, true/false or string as typed; any other text stays a string."""
    try:
        return limits.parse_json(text.strip(), field="--set", depth=1)
    except GRCError:
        return text


def load_model(path: Path):
    from .model import load_model

    return load_model(path)


def _time(value) -> str:
    """A time as the tables print it: three decimals at most (0.167, not 0.166667; the JSON keeps its keys)."""
    try:
        return f"{round(float(value), 3):g}"
    except (TypeError, ValueError):
        return str(value)


def metrics_table(metrics: dict) -> str:
    ex = metrics["extrapolation"]
    lines = [
        f"template fit RMSE      {metrics['template_fit_rmse']:.4f}",
        f"reconstruction RMSE    {metrics['reconstruction_rmse']:.4f}",
        "trace separation       " + ", ".join(f"t={_time(t)}: {v:.3f}" for t, v in metrics["trace_separation"].items()),
        f"interpolation error    {metrics['interpolation_error']:.3f}"
        + "  (" + ", ".join(f"{a}: {v:.3f}" for a, v in metrics["interpolation_error_per_alpha"].items()) + ")",
        "extrapolation          " + ", ".join(f"blend {a} -> {v:.2f}" for a, v in ex.items()),
    ]
    for time, span in (metrics.get("safe_blend_range") or {}).items():
        lines.append(f"safe blend range t={_time(time):<5} " + _span(span))
    if metrics.get("safe_blend_range") and metrics.get("safe_blend_range_subdivide", 2) < 2:
        lines.append(f"  (measured at subdivision {metrics['safe_blend_range_subdivide']}: this grid is too big "
                     f"to test at 2 quickly)")
    if metrics.get("safe_blend_range_time_steps"):
        lines.append(f"  (measured at {metrics['safe_blend_range_time_steps']} inner time steps, evenly spread: this set "
                     f"is too big to test at every one quickly)")
    return "\n".join(lines)


def _span(span) -> str:
    """A safe range as text: [low, high], per template for K > 2, or none when a shape inside is broken."""
    if span is None:
        return "none (a shape between the templates is broken)"
    if isinstance(span, dict):
        return ", ".join(f"{printable(name, 40)}: {_span(s)}" for name, s in span.items())
    return f"[{span[0]:g}, {span[1]:g}]"


def population_grid(text: str) -> tuple[int, int]:
    """'3x3' -> (3, 3): a population's rows and columns, each 1 to 8."""
    rows, sep, cols = text.lower().partition("x")
    if not sep or not all(part.strip().isascii() and part.strip().isdigit() for part in (rows, cols)):  # (not ٣x٣)
        raise GRCError(f"expected ROWSxCOLUMNS such as 3x3, got {printable(repr(text), 40)}", field="--population")
    grid = (int(rows), int(cols))
    for value in grid:
        number(value, "--population", 1, 8, integer=True)
    if grid == (1, 1):
        raise GRCError("expected at least two cells (1x1 is a single training: leave out --population)",
                       field="--population")
    return grid


def population_table(report: dict) -> str:
    """Each cell of a population: its context dimension, loss, and validation score with its parts
    (reconstruction and interpolation error, extrapolation shortfall, the share of broken blends) after
    its refine, and its refine iterations; the kept cell marked."""
    grid = report.get("grid") or []
    cells = report.get("cells", [])
    lines = [f"population {'x'.join(str(v) for v in grid)}: kept cell {report.get('best')} (scores after each "
             f"cell's refine; its iterations in the last column)",
             "   cell  context  loss   reconstruction  interpolation  extrapolation  broken  score  refined"]

    def value(cell, key, form):
        v = cell.get(key)
        return format(v, form) if isinstance(v, (int, float)) else "-"

    for i, cell in enumerate(cells):
        mark = "*" if i == report.get("best") else " "
        lines.append(f" {mark} {i:>4}  {value(cell, 'context_dims', 'd'):>7}  {printable(str(cell.get('loss', '-')), 6):<5}"
                     f"  {value(cell, 'reconstruction', '.5f'):>14}  {value(cell, 'interpolation', '.4f'):>13}"
                     f"  {value(cell, 'extrapolation', '.3f'):>13}"
                     f"  {value(cell, 'broken', '.2f'):>6}  {value(cell, 'score', '.3f'):>5}"
                     f"  {value(cell, 'refined', 'd'):>7}")
    return "\n".join(lines)


# -- interruptions, failures after the work, the unexpected --------------------------------------


INTERRUPTED = 130  # the exit status of a command stopped by Ctrl+C or SIGTERM


class Interrupted(BaseException):
    """Ctrl+C or SIGTERM during a command; its text says what was kept. A BaseException, so that no
    `except Exception` on the way swallows it."""


@contextlib.contextmanager
def work(output: Path | None = None):
    """The command's work: for its duration Ctrl+C and SIGTERM stop it with one line that says what
    happened to `output` ("nothing written; <file> unchanged" or "<file> not created"), exit 130."""
    before = _state(output)

    def stop(signum, frame):
        raise Interrupted()

    previous = {}
    with contextlib.suppress(ValueError):  # only the main thread can set handlers
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, stop)
    try:
        yield
    except (Interrupted, KeyboardInterrupt):
        raise Interrupted(_what_was_kept(output, before)) from None
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _state(path: Path | None):
    """What identifies a file's or folder's contents cheaply: inode, size, modification time."""
    try:
        info = os.stat(path)
        return info.st_ino, info.st_size, info.st_mtime_ns
    except (OSError, TypeError):
        return None


def _what_was_kept(output: Path | None, before) -> str:
    if output is None:
        return "nothing written"
    name = printable(output)
    after = _state(output)
    if after == before:
        return f"nothing written; {name} {'not created' if before is None else 'unchanged'}"
    return f"{name} was written before the interruption"


def save_trained(model, output: Path) -> None:
    """Save a trained model; if that fails, keep it in the recovery folder and say where."""
    try:
        model.save(output)
    except (GRCError, OSError, MemoryError) as e:
        reason = _reason(e)
        try:
            kept = keep_trained(model, output)
        except (GRCError, OSError, MemoryError) as again:
            raise GRCError(f"could not write {printable(output)} ({reason}); keeping the trained model in "
                           f"{printable(recovery_folder())} failed too ({_reason(again)})") from None
        raise GRCError(f"could not write {printable(output)} ({reason}); the trained model is kept at "
                       f"{printable(kept)}") from None


def keep_trained(model, output: Path) -> Path:
    """Save `model` in the recovery folder under the output's name and the time; returns its path."""
    return model.save(recovery_path(output.stem, f"{clock.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"))


def _reason(e: BaseException) -> str:
    if isinstance(e, GRCError):
        text = e.message
        return text[len("cannot write: "):] if text.startswith("cannot write: ") else text
    if isinstance(e, MemoryError):
        return "out of memory"
    return e.strerror or str(e) if isinstance(e, OSError) else str(e)


def crash_log(error: BaseException) -> Path | None:
    """Write the traceback of an unexpected error to a log file beside the recovery folder (else the
    temporary folder); returns its path, or None when no log could be written."""
    text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    name = f"grc-{clock.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
    for folder in (recovery_folder().parent / "logs", Path(tempfile.gettempdir())):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / name
            path.write_text(f"grc {' '.join(sys.argv[1:])}\n{text}", encoding="utf-8")
            return path
        except OSError:
            continue
    return None


def finite_or_null(value):
    """JSON-safe metrics: NaN and infinities become None (null), so the output is always valid JSON."""
    if isinstance(value, dict):
        return {k: finite_or_null(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_or_null(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


# -- commands --------------------------------------------------------------------------------------


@app.command()
def train(
    templates: Path = typer.Argument(..., help="A template set folder."),
    output: Path = typer.Option(..., "-o", "--output", help="The model file to write (.grc)."),
    preset: str = typer.Option("default", help=f"Settings preset: {', '.join(PRESETS)}."),
    context_dims: Optional[int] = typer.Option(None, "--context-dims", help="Context values per row (default: one per template beyond the first, at least 1; 0 = no context)."),
    seed: Optional[int] = typer.Option(None, help="Random seed (same seed, same machine: same model)."),
    steps: Optional[int] = typer.Option(None, help="Encoder/decoder training steps."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Rows per step."),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
    threads: int = typer.Option(1, help="CPU threads (one suits these small networks best)."),
    settings: list[str] = typer.Option([], "--set", help="Any other setting as KEY=VALUE, e.g. decoder_hidden=128,128 "
                                                        "(see `grc.Config`); repeatable."),
    start: Optional[Path] = typer.Option(None, "--from", help="Fine-tune from this model's encoder and decoder "
                                                            "(a relative of it: blend-models between them works)."),
    population: Optional[str] = typer.Option(None, help="RxC: train a toroidal grid of R x C encoder/decoder "
                                                       "pairs (Mustangs-style) and keep the best, e.g. 3x3."),
    ray: Optional[str] = typer.Option(None, "--ray", help="Run the training on a Ray cluster ('auto': the running "
                                                         "one; 'local': start one here; or an address)."),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="No progress bar or summary."),
):
    """Train a GRC model on a template set and save it."""
    number(context_dims, "--context-dims", 0, limits.MAX_CONTEXT_DIMS, integer=True)
    number(seed, "--seed", 0, limits.MAX_SEED, integer=True)
    number(steps, "--steps", 1, limits.MAX_STEPS, integer=True)
    number(batch_size, "--batch-size", 1, limits.MAX_BATCH, integer=True)
    number(threads, "--threads", 1, MAX_THREADS, integer=True)
    config = Config.from_preset(preset, context_dims=context_dims, seed=seed, steps=steps, batch_size=batch_size)
    config = with_settings(config, settings)
    grid = None if population is None else population_grid(population)
    if start is not None and (grid is not None or ray is not None):
        raise GRCError("--from fine-tunes one model here: leave out --population and --ray", field="--from")
    if ray not in (None, "auto", "local"):
        from .cluster import reachable

        reachable(ray)  # before the work: Ray itself retries an unreachable address for minutes
    check_output(output, (".grc",))
    with work(output), contextlib.ExitStack() as stack:
        from .model import check_model_size, layer_sizes
        from .templates import load_template_set

        template_set = load_template_set(templates)
        if start is None:  # (a fine-tuning keeps its parent's context values unless told)
            config = config.for_templates(len(template_set))
        check_model_size(config, template_set)  # a model too big to save is refused before training
        prefit = None
        if ray is None and start is None:  # the template models train in a second process while PyTorch loads
            from .fit import start_prefit

            _, rows, points = template_set.grid_shape
            prefit = start_prefit(template_set, config, layer_sizes(config, rows, 3 * points)["template"])
            if prefit is not None:
                stack.callback(prefit.close)
        from .training import train as train_model
        if quiet:  # no bar, no phase lines: nothing of rich is imported
            display, callback = contextlib.nullcontext(), None
        else:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            labels = {"templates": "template models", "relational": "encoder + decoder", "refine": "refine (weighted)",
                      "repair": "repair (broken)"}
            console = _console()
            live = console.is_terminal  # a log (not a terminal) gets one line per phase instead
            display = Progress(TextColumn("{task.description:<18}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                               TextColumn("loss {task.fields[loss]:.2e}"), TimeElapsedColumn(),
                               console=console, disable=not live, transient=False)
            tasks = {}

            def callback(p):
                if p.phase not in tasks:
                    tasks[p.phase] = display.add_task(labels[p.phase], total=p.total, loss=p.loss)
                    if not live:
                        print(f"training: {labels[p.phase]} ({p.total} steps)", file=sys.stderr, flush=True)
                display.update(tasks[p.phase], completed=p.step, loss=p.loss)

        with display:
            if ray is not None:
                from .cluster import train_remote

                model = train_remote(template_set, config, population=grid, ray=ray, device=device)
            elif grid is not None:
                from .population import train_population

                model, _ = train_population(template_set, config, grid, device=device, callback=callback,
                                            threads=threads, prefit=prefit)
            else:
                model = train_model(template_set, config, device=device, callback=callback, threads=threads,
                                    start=None if start is None else load_model(start), prefit=prefit)
        save_trained(model, output)
        if grid is not None and not quiet:
            typer.echo(population_table(model.info.get("population", {})))
    if not quiet:
        from .metrics import evaluate

        values = f"{model.context_dims} context value{'s' if model.context_dims != 1 else ''}"
        typer.echo(f"saved {printable(output)} ({len(model.templates)} templates, {values}; "
                   f"{model.info['seconds']:.1f} s of training)")
        typer.echo(metrics_table(evaluate(model)))


@app.command("evaluate")
def evaluate_command(
    model_file: Path = typer.Argument(..., help="A .grc model file."),
    as_json: bool = typer.Option(False, "--json", help="Print the metrics as JSON (a value that is not a "
                                                         "finite number is null)."),
):
    """Quality metrics of a trained model."""
    from .metrics import evaluate

    with work():
        metrics = evaluate(load_model(model_file))
    typer.echo(json.dumps(finite_or_null(metrics), indent=2, allow_nan=False) if as_json else metrics_table(metrics))


@app.command()
def traces(
    model_file: Path = typer.Argument(..., help="A .grc model file."),
    output: Path = typer.Option(..., "-o", "--output", help="The plot to write (.png, .svg, .pdf)."),
    time: Optional[float] = typer.Option(None, help="Plot one time step's traces and blends (Figure 6)."),
):
    """Plot the templates' context traces (the article's Figure 5, or Figure 6 with --time)."""
    from .plots import plot_traces

    number(time, "--time", -limits.MAX_MAP_VALUE, limits.MAX_MAP_VALUE)
    check_output(output, (".png", ".svg", ".pdf"))
    with work(output):
        plot_traces(load_model(model_file), output, time)
    typer.echo(f"wrote {printable(output)}")


@app.command("map")
def map_command(
    model_file: Path = typer.Argument(..., help="A .grc model file."),
    output: Path = typer.Option(..., "-o", "--output", help="The map to write (.png, .svg, .pdf)."),
    low: float = typer.Option(-1.0, help="The lowest blend mapped (two templates; for more, the lowest weight)."),
    high: float = typer.Option(3.0, help="The highest blend mapped."),
    step: float = typer.Option(0.1, help="Blend step."),
    times: Optional[str] = typer.Option(None, help="Times mapped, comma-separated (default: across the map)."),
    subdivide: int = typer.Option(2, help="Subdivision the verdicts judge (0-3)."),
):
    """Map where the model's shapes are coherent, strained or broken, with novelty contours."""
    from .plots import plot_map

    low = number(low, "--low", -limits.MAX_BLEND, limits.MAX_BLEND)
    high = number(high, "--high", -limits.MAX_BLEND, limits.MAX_BLEND)
    if high <= low:
        raise GRCError(f"expected --high above --low, got {low:g} and {high:g}", field="--high")
    step = number(step, "--step", 0.01, 1.0)
    if (high - low) / step > 2000:
        raise GRCError("expected at most 2000 blend steps; use a larger --step", field="--step")
    time_values = numbers(times, "--times", limits.MAX_MAP_VALUE, most=64)
    number(subdivide, "--subdivide", 0, limits.MAX_SUBDIVIDE, integer=True)
    check_output(output, (".png", ".svg", ".pdf"))
    with work(output):
        plot_map(load_model(model_file), output, blends=(low, high), step=step,
                 times=None if time_values is None else list(time_values), subdivide=subdivide)
    typer.echo(f"wrote {printable(output)}")


@app.command()
def export(
    model_file: Path = typer.Argument(..., help="A .grc model file."),
    output: Path = typer.Option(..., "-o", "--output", help="The mesh to write (.obj, .ply, .stl, .glb)."),
    time: float = typer.Option(0.8, help="Time on the relational map."),
    blend: Optional[str] = typer.Option(None, help="One number for two templates (0 = first, 1 = second; beyond "
                                                   "extrapolates), or one weight per template, comma-separated; "
                                                   "weights count relative to their mean, so 1,1 is 0.5,0.5 "
                                                   "(default: the look's own blend, else the first template)."),
    context: Optional[str] = typer.Option(None, help="Raw context values instead of a blend (expert)."),
    morph_samples: Optional[int] = typer.Option(None, "--morph-samples", help="Rows per petal (default: the templates')."),
    subdivide: int = typer.Option(0, help="Subdivision Surface levels, 0-3."),
    flower: int = typer.Option(1, help="Petals arranged around the Z axis (per ring)."),
    base_radius: float = typer.Option(0.0, "--base-radius", help="Flower: each petal's base this far from the axis."),
    tilt: float = typer.Option(0.0, help="Flower: degrees each petal turns up (towards +Z) about its base; "
                                         "negative droops."),
    rings: int = typer.Option(1, help="Flower: rings of petals, each inner ring smaller and turned."),
    ring_scale: float = typer.Option(0.8, "--ring-scale", help="Flower: each ring's size against the one outside it."),
    ring_rotation: Optional[float] = typer.Option(None, "--ring-rotation", help="Flower: degrees each ring turns "
                                                  "against the one outside it (default: half a petal's step)."),
    ring_tilt: float = typer.Option(0.0, "--ring-tilt", help="Flower: degrees of tilt each inner ring adds."),
    vary_time: float = typer.Option(0.0, "--vary-time", help="Flower: each petal's time moves by up to this much."),
    vary_blend: float = typer.Option(0.0, "--vary-blend", help="Flower: each petal's blend moves by up to this much."),
    flower_seed: int = typer.Option(0, "--flower-seed", help="Flower: the seed of the per-petal variation."),
    thickness: float = typer.Option(0.0, help="Give the surface this thickness."),
    animate: Optional[str] = typer.Option(None, help="Sweep 'time' or 'blend' into GLB morph targets (shape keys)."),
    frames: int = typer.Option(9, help="Morph targets in a sweep."),
    start: Optional[str] = typer.Option(None, help="Where a sweep starts (default: first time / first template)."),
    stop: Optional[str] = typer.Option(None, help="Where a sweep stops (default: last time / second template)."),
    look: Optional[Path] = typer.Option(None, help="A look (grc-look/1 .json): bends applied to the decoder."),
    elite: Optional[str] = typer.Option(None, help="DIR:ID: export elite ID of a search's archive in DIR "
                                                   "(the shape the gallery shows)."),
):
    """Export a shape (or a sweep with --animate) as a mesh Blender opens."""
    from .shapes import export_animation
    from .shapes import export as export_shape
    from .sweeps import SWEEPS

    if animate is not None and animate not in SWEEPS:
        raise GRCError(f"expected one of {', '.join(SWEEPS)}, got {printable(repr(animate), 40)}", field="--animate")
    time = number(time, "--time", -limits.MAX_MAP_VALUE, limits.MAX_MAP_VALUE)
    weights = numbers(blend, "--blend", limits.MAX_BLEND)
    context_values = numbers(context, "--context", limits.MAX_CONTEXT, most=limits.MAX_CONTEXT_DIMS)
    if weights is not None and context_values is not None:
        raise GRCError("give a blend or a raw context, not both", field="--blend/--context")
    number(morph_samples, "--morph-samples", 2, limits.MAX_MORPH_SAMPLES, integer=True)
    number(subdivide, "--subdivide", 0, limits.MAX_SUBDIVIDE, integer=True)
    number(flower, "--flower", 1, limits.MAX_PETALS, integer=True)
    arrangement = _flower(flower, base_radius, tilt, rings, ring_scale, ring_rotation, ring_tilt, vary_time,
                          vary_blend, flower_seed)
    number(thickness, "--thickness", 0, limits.MAX_THICKNESS)
    number(frames, "--frames", 2, limits.MAX_FRAMES, integer=True)
    ends = {}
    for field, text in (("--start", start), ("--stop", stop)):
        if text is not None and animate == "time":
            ends[field] = numbers(text, field, limits.MAX_MAP_VALUE, most=1)[0]
        elif text is not None:
            ends[field] = numbers(text, field, limits.MAX_BLEND)
    if elite is not None and (animate or look is not None or weights is not None or context_values is not None
                              or morph_samples is not None or vary_time or vary_blend):
        raise GRCError("an elite is one shape with its own time, blend and look: leave out --animate, --look, "
                       "--blend, --context, --morph-samples and --vary-*", field="--elite")
    elite_folder, elite_id = _elite(elite) if elite is not None else (None, None)
    check_output(output, (".glb",) if animate else EXPORT_FORMATS)
    with work(output):
        from .diverge.bend import load_look

        model = load_model(model_file)
        options = dict(morph=morph_samples, subdivide=subdivide, flower=arrangement, thickness=thickness)
        bends = None if look is None else load_look(look).check(model, morph_samples)  # errors name the look's file
        if elite is not None:
            from .diverge.search import load_elite

            _, elite_time, grid, _ = load_elite(elite_folder, elite_id, model)
            export_shape(model, output, elite_time, grid=grid, subdivide=subdivide, flower=arrangement,
                         thickness=thickness)
        elif animate:
            export_animation(model, output, sweep=animate, frames=frames, time=time, blend=weights,
                             start=ends.get("--start"), stop=ends.get("--stop"), look=bends, **options)
        else:
            export_shape(model, output, time, weights, context=context_values, look=bends, **options)
    typer.echo(f"wrote {printable(output)}")


def _flower(petals, base_radius, tilt, rings, ring_scale, ring_rotation, ring_tilt, vary_time, vary_blend, seed):
    """The export's grc.mesh.Flower; a bad value names its option."""
    from .mesh import Flower

    values = dict(petals=petals, base_radius=base_radius, tilt=tilt, rings=rings, ring_scale=ring_scale,
                  ring_rotation=ring_rotation, ring_tilt=ring_tilt, vary_time=vary_time, vary_blend=vary_blend,
                  seed=seed)
    try:
        return Flower(**values)
    except GRCError as e:
        option = "--flower" if e.field == "petals" else "--flower-seed" if e.field == "seed" else \
            "--" + str(e.field).replace("_", "-")
        raise GRCError(e.message, field=option) from None


def _elite(text: str) -> tuple[Path, int]:
    folder, sep, ident = text.rpartition(":")
    if not sep or not folder or not (ident.strip().isascii() and ident.strip().isdigit()):
        raise GRCError(f"expected DIR:ID (a search's folder and an elite's number), got {printable(repr(text), 80)}",
                       field="--elite")
    return Path(folder), int(ident)


@app.command("blend-models")
def blend_models_command(
    model_a: Path = typer.Argument(..., help="Model A (.grc)."),
    model_b: Path = typer.Argument(..., help="Model B (.grc), of the same grid and sizes."),
    output: Path = typer.Option(..., "-o", "--output", help="The blended model to write (.grc)."),
    weight: float = typer.Option(0.5, help="W: A + W (B - A); 0 gives A, 1 gives B, beyond extrapolates."),
    layers: Optional[str] = typer.Option(None, help="Only these layers, comma-separated: template, encoder, "
                                                    "decoder or one layer such as decoder.1 (default: all)."),
):
    """Blend two models weight by weight (layer swapping with --layers)."""
    from .diverge.blend import blend_models

    weight = number(weight, "--weight", -limits.MAX_BLEND, limits.MAX_BLEND)
    chosen = None if layers is None else [v.strip() for v in layers.split(",") if v.strip()]
    if chosen == []:
        raise GRCError("expected at least one layer name, e.g. decoder or decoder.1", field="--layers")
    check_output(output, (".grc",))
    with work(output):
        model = blend_models(load_model(model_a), load_model(model_b), weight, chosen)
        model.save(output)
    typer.echo(f"wrote {printable(output)}")


@app.command()
def rewrite(
    model_file: Path = typer.Argument(..., help="A .grc model file."),
    output: Path = typer.Option(..., "-o", "--output", help="The rewritten model to write (.grc)."),
    time: float = typer.Option(..., help="Time of the shape to edit."),
    blend: Optional[str] = typer.Option(None, help="Blend of the shape to edit (as for export; default: halfway "
                                                   "between the templates, 0.5 for two)."),
    point: str = typer.Option(..., help="ROW,INDEX of the grid point to move."),
    target: str = typer.Option(..., help="X,Y,Z: where that point must go."),
    radius: float = typer.Option(0.1, help="Neighbours within this distance follow, with a smooth falloff."),
):
    """Rewrite the decoder so that one point of one shape lands on a target (Bau et al. 2020)."""
    from .diverge.rewrite import rewrite as rewrite_model, templates_moved

    time = number(time, "--time", -limits.MAX_MAP_VALUE, limits.MAX_MAP_VALUE)
    weights = numbers(blend, "--blend", limits.MAX_BLEND)
    where = numbers(point, "--point", limits.MAX_POINTS * limits.MAX_ROWS, most=2)
    goal = numbers(target, "--target", limits.MAX_COORDINATE, most=3)
    if len(where) != 2 or len(goal) != 3:
        raise GRCError("expected --point ROW,INDEX and --target X,Y,Z", field="--point/--target")
    if not np.all(where == np.round(where)):
        raise GRCError(f"expected two whole numbers ROW,INDEX, got {printable(repr(point), 40)}", field="--point")
    number(radius, "--radius", 0, limits.MAX_COORDINATE)
    check_output(output, (".grc",))
    with work(output):
        model = load_model(model_file)
        if weights is None:  # the templates' mean (0.5 for two)
            weights = np.full(len(model.templates), 1 / len(model.templates))
        model = rewrite_model(model, time, weights, [int(v) for v in where], goal, radius)
        model.save(output)
    typer.echo(f"wrote {printable(output)}")
    if templates_moved(model):
        typer.echo(f"note: {templates_moved(model)}")


@app.command()
def search(
    model_file: Path = typer.Argument(..., help="A .grc model file."),
    output: Path = typer.Option(..., "-o", "--output", help="The folder for archive.json and archive.png."),
    budget: int = typer.Option(5000, help="Shapes to try."),
    seed: int = typer.Option(0, help="Random seed (the same seed gives the same archive)."),
    time: float = typer.Option(0.8, help="Time of the shapes searched."),
    novelty: str = typer.Option("templates", help="templates: fitness is novelty to the templates; archive: "
                                                 "distance to the nearest elites (novelty search)."),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="No progress."),
):
    """Fill an archive of diverse coherent shapes (MAP-Elites) and draw its contact sheet."""
    from .diverge.search import MAX_BUDGET, save_archive
    from .diverge.search import search as run_search

    number(budget, "--budget", 64, MAX_BUDGET, integer=True)
    number(seed, "--seed", 0, limits.MAX_SEED, integer=True)
    time = number(time, "--time", -limits.MAX_MAP_VALUE, limits.MAX_MAP_VALUE)
    _check_folder_output(output)
    with work(output):
        model = load_model(model_file)

        def progress(done, total, archive):
            if not quiet:
                print(f"\r{done}/{total} shapes, {len(archive.elites)} elites", end="", file=sys.stderr, flush=True)

        archive, space = run_search(model, budget, seed, time=time, novelty=novelty, callback=progress)
        if not quiet:
            print(file=sys.stderr)
        save_archive(archive, space, output, model_file.resolve(), seed, budget)
    typer.echo(f"wrote {printable(output / 'archive.json')}: {len(archive.elites)} elites, "
               f"coverage {archive.coverage:.0%}")


@app.command()
def diverge(
    model_file: Path = typer.Argument(..., help="A .grc model file."),
    output: Path = typer.Option(..., "-o", "--output", help="The folder for the checkpoints."),
    steps: int = typer.Option(300, help="Fine-tuning steps."),
    every: int = typer.Option(20, help="A checkpoint every this many steps."),
    lr: float = typer.Option(1e-3, help="Learning rate."),
    seed: int = typer.Option(0, help="Random seed."),
):
    """Fine-tune the decoder away from the templates, with a checkpoint to roll back to every few steps."""
    from .diverge.finetune import diverge as run_diverge
    from .diverge.finetune import save_checkpoints

    number(steps, "--steps", 1, 100_000, integer=True)
    number(every, "--every", 1, 100_000, integer=True)
    number(lr, "--lr", 1e-8, 1.0)
    number(seed, "--seed", 0, limits.MAX_SEED, integer=True)
    _check_folder_output(output)
    with work(output):
        checkpoints = run_diverge(load_model(model_file), steps, every=every, lr=lr, seed=seed)
        save_checkpoints(checkpoints, output)
    for c in checkpoints:
        typer.echo(f"step {c.step:5d}  novelty {c.novelty:.4f}  broken {c.broken:.0%}  strained {c.strained:.0%}")
    typer.echo(f"wrote {len(checkpoints)} checkpoints to {printable(output)}")


@app.command("train-many")
def train_many_command(
    folder: Path = typer.Argument(..., help="A folder of template set folders."),
    output: Path = typer.Option(..., "-o", "--output", help="The folder for the models (<set>.grc each)."),
    ray: Optional[str] = typer.Option(None, "--ray", help="A Ray cluster's address ('auto': the running one; "
                                                         "'local': start one here); default: this machine."),
    preset: str = typer.Option("default", help=f"Settings preset: {', '.join(PRESETS)}."),
    seed: Optional[int] = typer.Option(None, help="Random seed."),
    settings: list[str] = typer.Option([], "--set", help="Any other setting as KEY=VALUE; repeatable."),
):
    """Train every template set in a folder, here or on a Ray cluster."""
    from .cluster import train_many

    number(seed, "--seed", 0, limits.MAX_SEED, integer=True)
    config = with_settings(Config.from_preset(preset, seed=seed), settings)
    if ray not in (None, "auto", "local"):
        from .cluster import reachable

        reachable(ray)
    _check_folder_output(output)
    failed = []

    def report(r):
        if r.error:
            failed.append(r)
            print(printable(f"grc: {r.name}: {r.error}", 2000), file=sys.stderr)
        else:
            typer.echo(f"{printable(r.name)}: {printable(r.output)} ({r.seconds:.1f} s, reconstruction "
                       f"{r.metrics['reconstruction_rmse']:.4f})")

    with work(output):
        results = train_many(folder, output, config, ray=ray, callback=report)
    if failed:
        raise GRCError(f"{len(failed)} of {len(results)} sets failed (above)", path=folder)


def _check_folder_output(output: Path) -> None:
    if output.exists() and not output.is_dir():
        raise GRCError("expected a folder", path=output, field="--output")
    parent = output if output.exists() else output.parent if str(output.parent) else Path(".")
    if not parent.is_dir():
        raise GRCError(f"folder {printable(parent)} does not exist", path=output, field="--output")
    _try_writing_in(parent, output, "--output")


@app.command()
def info(path: Path = typer.Argument(..., help="A .grc model file or a template set folder.")):
    """Describe a model file or a template set."""
    from .templates import load_template_set

    with work():
        if path.is_dir():
            s = load_template_set(path)
            lines = [f"template set  {printable(path)}", *_set_lines(s)]
        else:
            m = load_model(path)
            c, i = m.config, m.info
            lines = [f"model         {printable(path)}", f"version       {printable(i.get('grc_version', '?'), 40)}",
                     *_set_lines(m.templates),
                     f"preset        {printable(c.preset, 40)}, context dims {c.context_dims}, seed {c.seed}",
                     f"networks      template {list(c.template_hidden)}, encoder {list(c.encoder_hidden)}, "
                     f"decoder {list(c.decoder_hidden)}",
                     f"training      {c.steps} steps x {c.batch_size} rows, {printable(i.get('seconds', '?'), 40)} s on "
                     f"{printable(i.get('device', '?'), 40)}, {printable(i.get('trained_at', '?'), 40)}",
                     f"normals       {'flipped' if m.flip_normals else 'as drawn'}"]
            from .diverge.blend import lineage_of

            lineage = lineage_of(i.get("lineage"))
            if lineage:
                parents = ", ".join(printable(p.get("model", "?"), 20) for p in lineage["parents"])
                lines.append(f"lineage       {printable(lineage.get('operation', '?'), 40)} of {parents or '?'}"
                             f" ({len(lineage['ancestry'])} ancestors)")
    typer.echo("\n".join(lines))


@app.command()
def normals(
    model_file: Path = typer.Argument(..., help="A .grc model file."),
    flip: Optional[bool] = typer.Option(None, "--flip/--no-flip", help="Make its surfaces face the other way "
                                        "(--flip) or as made (--no-flip), saved in the model file."),
):
    """Show or set which way a model's surfaces face; every export and the Blender add-on follow it."""
    with work(model_file if flip is not None else None):
        model = load_model(model_file)
        if flip is not None and flip != model.flip_normals:
            model.flip_normals = flip
            model.save(model_file)
    typer.echo(f"{printable(model_file)}: normals {'flipped' if model.flip_normals else 'as made'}")


def _set_lines(s) -> list[str]:
    T, M, N = s.grid_shape
    return [f"templates     {len(s)}: {_names(s.names)}",
            f"grid          {T} time steps x {M} rows x {N} points",
            f"time          {_values(s.time)}", f"morph         {_values(s.morph)}"]


def _names(names) -> str:
    return ", ".join(printable(n, 80) for n in names)


def _values(v) -> str:
    return "[" + ", ".join(f"{x:g}" for x in v) + "]"


@templates_app.command("validate")
def templates_validate(folder: Path = typer.Argument(..., help="A template set folder.")):
    """Check a template set: formats, finite numbers, shared grid size and relational map."""
    from .templates import load_template_set

    with work():
        s = load_template_set(folder)
    T, M, N = s.grid_shape
    typer.echo(f"{printable(folder)}: ok, {len(s)} templates ({_names(s.names)}), "
               f"{T} time steps x {M} rows x {N} points")


@templates_app.command("import")
def templates_import(
    name: str = typer.Argument(..., help="The new template's name."),
    files: list[Path] = typer.Argument(..., help="One row-layout .json, or one grid file (.json/.obj/.ply) per time "
                                                 "step, in order. OBJ/PLY grids are read in the order their quads "
                                                 "prove (any vertex numbering)."),
    output: Path = typer.Option(..., "-o", "--output", help="The template set folder to add it to (created if new)."),
    time: Optional[str] = typer.Option(None, help="The time values, comma-separated (default: evenly 0..1)."),
    morph: Optional[str] = typer.Option(None, help="The morph values, comma-separated (default: evenly 0..1)."),
    scale: float = typer.Option(1.0, help="Multiply every coordinate by this."),
    rows: Optional[int] = typer.Option(None, help="Morph rows per OBJ/PLY grid, when it is not square (default: the "
                                                  "grid's own orientation)."),
    replace: bool = typer.Option(False, "--replace", help="Replace the set's template of this name, in its place "
                                 "in the blend order (without it, a name already in the set is refused)."),
):
    """Convert files into a template and add it to a template set folder (or replace one there)."""
    from .importers import import_files
    from .templates import add_template

    if not name.strip():
        raise GRCError("expected a name with letters or digits, got an empty name", field="name")
    if printable(name, limits.MAX_NAME + 1) != name:
        raise GRCError(f"expected a name of printable characters, at most {limits.MAX_NAME}, got "
                       f"{printable(repr(name), 80)}", field="name")
    time_values = numbers(time, "--time", limits.MAX_MAP_VALUE, most=limits.MAX_TIME_STEPS)
    morph_values = numbers(morph, "--morph", limits.MAX_MAP_VALUE, most=limits.MAX_ROWS)
    number(scale, "--scale", -MAX_SCALE, MAX_SCALE)
    if scale == 0:
        raise GRCError("expected a scale other than 0", field="--scale")
    number(rows, "--rows", 2, limits.MAX_ROWS, integer=True)
    _check_set_folder(output)
    with work(output):
        like = None  # a set's template, that a mesh whose numbering cannot tell which way it runs is turned like
        if output.is_dir():
            from .templates import load_template_set

            with contextlib.suppress(GRCError):
                like = load_template_set(output).templates[0]
        template = import_files(name, files, time=time_values, morph=morph_values, scale=scale, rows=rows,
                                like=like)
        target, replaced = add_template(output, template, replace=replace)
    typer.echo(f"{'replaced' if replaced else 'wrote'} {printable(target)}")


def _check_set_folder(output: Path) -> None:
    """Before reading the files: the set folder is a folder (or can be made) and can be written."""
    if output.exists() and not output.is_dir():
        raise GRCError("expected a folder", path=output, field="--output")
    existing = output
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise GRCError(f"{printable(existing)} is not a folder", path=output, field="--output")
    _try_writing_in(existing, output, "--output")
    if existing == output and output.parent.is_dir():  # the set is saved beside itself, then swapped in
        _try_writing_in(output.parent, output, "--output")


@app.command()
def studio(
    path: Optional[Path] = typer.Argument(None, help="A .grc model or a template set folder (default: the petal)."),
    screenshot: Optional[Path] = typer.Option(None, help="Render one frame to this PNG and exit."),
    time: Optional[float] = typer.Option(None, help="Time for --screenshot."),
    blend: Optional[str] = typer.Option(None, help="Blend for --screenshot."),
    benchmark: bool = typer.Option(False, help="Measure slider-to-pixels times and print them."),
    look: Optional[Path] = typer.Option(None, help="A look (grc-look/1) to open with the model (Explore > Bend)."),
    size: Optional[str] = typer.Option(None, help="Window size WxH in pixels, e.g. 1280x800 (default: 1280x800, "
                                                  "less on a smaller screen)."),
):
    """Open the GRC Studio desktop app."""
    number(time, "--time", -limits.MAX_MAP_VALUE, limits.MAX_MAP_VALUE)
    numbers(blend, "--blend", limits.MAX_BLEND)
    try:
        from gui.__main__ import window_size  # (no Qt: the options are checked before any window)
    except ImportError:
        window_size = None
    window = window_size(size) if window_size is not None else None
    if screenshot is not None:
        check_writable(screenshot, "--screenshot")
    if sys.platform.startswith("linux") and not any(os.environ.get(v) for v in
                                                     ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")):
        raise GRCError("no display to open a window on (no DISPLAY); on a headless machine run it under "
                       "xvfb-run, e.g. xvfb-run -a grc studio --screenshot out.png", field="studio")
    try:
        from gui.app import main as studio_main
    except ImportError as e:
        raise GRCError(f"the desktop app is not available ({e}); install PyQt5 and pyvistaqt", field="studio") from None
    code = studio_main(None if path is None else str(path), screenshot=None if screenshot is None else str(screenshot),
                       time=time, blend=blend, benchmark=benchmark, look=None if look is None else str(look), size=window)
    raise typer.Exit(code)


@app.command("blender-addon")
def blender_addon(output: Path = typer.Option("grc_blender.zip", "-o", "--output", help="The add-on zip to write.")):
    """Write the Blender add-on (install it with Blender's Install from Disk)."""
    from .blender import build_addon

    check_output(output, (".zip",))
    with work(output):
        written = build_addon(output)
    typer.echo(f"wrote {printable(written)}")


def _console():
    from rich.console import Console

    return Console(stderr=True)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI: a user's mistake or an OS error is one stderr line and exit 2, an interruption one
    line and exit 130, anything unexpected one line naming its log file and exit 1."""
    try:
        return _main(argv)
    finally:
        if argv is None:  # run as the program (not called by a test): the process ends next
            # The interpreter's exit collects garbage among every object still alive, PyTorch's many
            # included: 0.3-1.2 s after a `grc train` (measured, docs/benchmarks.md). Frozen objects are
            # left to the exit itself (atexit handlers, flushing and module teardown still run).
            gc.freeze()


def _main(argv: list[str] | None) -> int:
    try:
        command = typer.main.get_command(app)
        result = command.main(args=argv, prog_name="grc", standalone_mode=False)
    except GRCError as e:
        return _fail(f"grc: {e}", 2)
    except NoArgsIsHelpError as e:
        print(e.ctx.get_help())
        return 0
    except UsageError as e:
        where = f"{e.ctx.command_path}: " if e.ctx else "grc: "
        return _fail(printable(f"{where}{e.format_message()}", 2000), 2)
    except typer.Exit as e:
        return e.exit_code
    except Interrupted as e:
        return _fail(f"grc: interrupted; {e.args[0] if e.args else 'nothing written'}", INTERRUPTED)
    except (typer.Abort, KeyboardInterrupt):
        return _fail("grc: interrupted; nothing written", INTERRUPTED)
    except OSError as e:
        where = f"{printable(e.filename, 500)}: " if e.filename else ""
        return _fail(f"grc: {where}{printable(e.strerror or e, 500)}", 2)
    except MemoryError:
        return _fail("grc: out of memory; try smaller sizes (--batch-size, --morph-samples, --subdivide, --flower)", 2)
    except Exception as e:  # a bug: one line, the traceback in a log file
        log = crash_log(e)
        where = f"the details are in {printable(log, 500)}" if log else "no log could be written"
        return _fail(f"grc: unexpected error ({type(e).__name__}: {printable(e, 200)}); {where}; please report it", 1)
    if result == INTERRUPTED:  # typer's own answer to a Ctrl+C outside `work()` (while parsing): silent
        return _fail("grc: interrupted; nothing written", INTERRUPTED)
    return result if isinstance(result, int) else 0


def _fail(line: str, code: int) -> int:
    print(line, file=sys.stderr, flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
