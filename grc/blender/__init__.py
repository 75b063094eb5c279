"""The Blender add-on: `build_addon(path)` writes it as a Blender extension zip (Blender 4.2 and newer).

The zip holds the manifest, the add-on (the modules of grc/blender/addon/: __init__.py with GRC objects, bake
and panel, export.py with Export Templates, training.py with Train) and, as its subpackage `grc`,
the library's numpy-only modules copied unchanged: Blender's Python has numpy but neither PyTorch nor
scipy, and the add-on evaluates models with the very code the library uses (grc.mesh imports scipy only
where it builds sparse subdivision operators: the add-on's meshes use Blender's own Subdivision Surface
modifier, which grc.mesh matches (see docs/mesh-and-export.md), and its coherence verdict the numpy-only
grc.mesh.dense_subdivision_operator). grc.coherence (the verdict) and grc.diverge.bend (looks) ship too.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from ..io import atomic_path
from ..model import VERSION

PACKAGE = Path(__file__).resolve().parents[1]  # the grc package
ADDON = Path(__file__).resolve().parent / "addon"
ADDON_MODULES = ("__init__.py", "export.py", "training.py")
ADDON_ID = "grc_studio"

# The library modules the add-on ships as they are: numpy and the standard library only.
RUNTIME = ("errors.py", "limits.py", "io.py", "bundle.py", "config.py", "templates.py", "importers.py", "model.py", "mesh.py",
           "sweeps.py", "coherence.py", "diverge/__init__.py", "diverge/bend.py")

MANIFEST = f'''schema_version = "1.0.0"

id = "{ADDON_ID}"
version = "{VERSION}"
name = "GRC Studio"
tagline = "Generative Relational Context models as animatable meshes"
maintainer = "GRC Studio developers"
type = "add-on"
tags = ["Mesh", "Animation", "Modeling"]
blender_version_min = "4.2.0"
license = ["SPDX:Apache-2.0"]

[permissions]
files = "Read GRC model files (.grc) from disk"
'''

RUNTIME_INIT = '''"""The GRC Studio library's numpy-only runtime, copied into the add-on by grc.blender.build_addon."""
'''


def build_addon(path) -> Path:
    """Write the add-on zip to `path` atomically (install it with Blender's Install from Disk); returns the path."""
    files = {
        "blender_manifest.toml": MANIFEST,
        **{name: (ADDON / name).read_text(encoding="utf-8") for name in ADDON_MODULES},
        "grc/__init__.py": RUNTIME_INIT,
        **{f"grc/{name}": (PACKAGE / name).read_text(encoding="utf-8") for name in RUNTIME},
    }
    with atomic_path(path) as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, text in files.items():
                info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))  # same bytes on every build
                info.compress_type, info.external_attr = zipfile.ZIP_DEFLATED, 0o644 << 16
                archive.writestr(info, text)
    return Path(path)
