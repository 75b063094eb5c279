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

from __future__ import annotations

# What `grc.<name>` reads from which module. Imported when first asked for, so that `import grc` itself is
# instant: the `grc` command's own handling of Ctrl+C (one line, exit 130) starts before numpy is imported.
_NAMES = {
    "Config": "config", "PRESETS": "config", "GRCError": "errors", "WriteError": "errors", "Flower": "mesh",
    "GRCModel": "model", "load_model": "model", "import_files": "importers", "Template": "templates",
    "TemplateSet": "templates", "load_template": "templates", "load_template_set": "templates",
    "load_templates": "templates", "Progress": "training", "Cancelled": "training", "__version__": "model",
}
_ALIASES = {"load_templates": "load_template_set", "__version__": "VERSION"}

__all__ = [
    "Config", "Flower", "PRESETS", "GRCError", "WriteError", "GRCModel", "load_model", "Template", "TemplateSet",
    "import_files", "load_template", "load_templates", "load_template_set", "train", "evaluate",
    "export", "export_animation", "Progress", "Cancelled", "__version__",
]


def __getattr__(name):
    if name in _NAMES:
        import importlib

        value = getattr(importlib.import_module(f".{_NAMES[name]}", __name__), _ALIASES.get(name, name))
        globals()[name] = value  # (once)
        return value
    raise AttributeError(f"module 'grc' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))


def train(templates, config=None, *, device="auto", callback=None, threads=1, start=None) -> GRCModel:
    """Train template models, encoder and decoder on a template set (or its folder); see grc.training.
    `start`: a model to fine-tune from (its relative: grc.diverge.blend between them works)."""
    from .templates import TemplateSet, load_template_set
    from .training import train as _train

    if not isinstance(templates, TemplateSet):
        templates = load_template_set(templates)
    return _train(templates, config, device=device, callback=callback, threads=threads, start=start)


def evaluate(model: GRCModel) -> dict:
    """Quality metrics of a trained model (see grc.metrics)."""
    from .metrics import evaluate as _evaluate

    return _evaluate(model)


def export(model: GRCModel, path, time: float, blend=None, **options):
    """Write the shape at (time, blend) as OBJ/PLY/STL/GLB (by suffix); no blend: a look's own (look=), else the
    first template; see grc.shapes.export."""
    from .shapes import export as _export

    return _export(model, path, time, blend, **options)


def export_animation(model: GRCModel, path, **options):
    """Write a sweep over time or blend as a GLB with morph targets; see grc.shapes.export_animation."""
    from .shapes import export_animation as _export_animation

    return _export_animation(model, path, **options)
