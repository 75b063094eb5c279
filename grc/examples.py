"""The bundled examples (template sets and the petal model), found wherever GRC Studio is installed.

Bundled files are read-only to the app: it opens them, and the first save asks where to put a copy.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]  # a checkout (editable install); TODO: package data for `pip install .`


def template_set_path(name: str = "petal") -> Path:
    """The folder of a bundled template set (`petal`, `leaf`, `sprout`)."""
    return ROOT / "templates" / name


def model_path(name: str = "petal") -> Path:
    """The bundled model trained on a bundled set."""
    return ROOT / "meshes" / f"{name}.grc"


def is_bundled(path) -> bool:
    """True for a bundled example (or a file inside one): the app never writes there."""
    try:
        path = Path(path).resolve()
    except OSError:
        return False
    roots = [template_set_path(n) for n in ("petal", "leaf", "sprout")] + [model_path()]
    return any(path == r.resolve() or r.resolve() in path.parents for r in roots)
