"""GRC Studio: draw a few templates, train a Generative Relational Context model, explore new forms.

    import grc
    templates = grc.load_templates("templates/petal")
    model = grc.train(templates)                    # needs PyTorch; progress via callback=
    model.save("meshes/petal.grc")
    model = grc.load_model("meshes/petal.grc")      # numpy only
    grid = model.shape(time=0.8, blend=0.5)         # (morph rows, points, 3), Z-up
    grc.export(model, "half.obj", time=0.8, blend=0.5)

Training imports PyTorch only when called; using a trained model needs numpy alone.
"""

from .config import PRESETS, Config
from .errors import GRCError, WriteError
from .model import VERSION as __version__
from .mesh import Flower
from .model import GRCModel, load_model
from .importers import import_files
from .templates import Template, TemplateSet, load_template, load_template_set

load_templates = load_template_set

__all__ = [
    "Config", "Flower", "PRESETS", "GRCError", "WriteError", "GRCModel", "load_model", "Template", "TemplateSet",
    "import_files", "load_template", "load_templates", "load_template_set", "train", "evaluate",
    "export", "export_animation", "Progress", "Cancelled", "__version__",
]


def __getattr__(name):  # grc.Progress and grc.Cancelled live with the (PyTorch) training code
    if name in ("Progress", "Cancelled"):
        from . import training

        return getattr(training, name)
    raise AttributeError(f"module 'grc' has no attribute {name!r}")


def train(templates, config=None, *, device="auto", callback=None, threads=1, start=None) -> GRCModel:
    """Train template models, encoder and decoder on a template set (or its folder); see grc.training.
    `start`: a model to fine-tune from (its relative: grc.diverge.blend between them works)."""
    from .training import train as _train

    if not isinstance(templates, TemplateSet):
        templates = load_template_set(templates)
    return _train(templates, config, device=device, callback=callback, threads=threads, start=start)


def evaluate(model: GRCModel) -> dict:
    """Quality metrics of a trained model (see grc.metrics)."""
    from .metrics import evaluate as _evaluate

    return _evaluate(model)


def export(model: GRCModel, path, time: float, blend=0.0, **options):
    """Write the shape at (time, blend) as OBJ/PLY/STL/GLB (by suffix); see grc.shapes.export."""
    from .shapes import export as _export

    return _export(model, path, time, blend, **options)


def export_animation(model: GRCModel, path, **options):
    """Write a sweep over time or blend as a GLB with morph targets; see grc.shapes.export_animation."""
    from .shapes import export_animation as _export_animation

    return _export_animation(model, path, **options)
