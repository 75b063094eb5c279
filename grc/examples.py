"""The bundled examples (template sets and the petal model), found wherever GRC Studio is installed.

One copy lives in the repository (templates/, meshes/). An installed wheel carries it as package data
under grc/bundled/ (see pyproject.toml); a checkout and an editable install read the repository's.
Bundled files are read-only to the app: it opens them, and the first save asks where to put a copy.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
SETS = ("petal", "leaf", "sprout")


def _root() -> Path:
    """The folder holding templates/ and meshes/: the wheel's grc/bundled, else the checkout."""
    installed = PACKAGE / "bundled"
    if (installed / "meshes").is_dir():
        return installed
    return PACKAGE.parent  # a checkout, or an editable install of one


ROOT = _root()


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
    roots = [template_set_path(n) for n in SETS] + [model_path()]
    return any(path == r.resolve() or r.resolve() in path.parents for r in roots)
