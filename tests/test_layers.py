"""The library is a layer of its own: scripts on a machine without Qt or VTK can use all of it."""

import subprocess
import sys

GUI_ONLY = {"PyQt5", "pyvista", "pyvistaqt", "vtkmodules", "vtk", "gui"}

CODE = """
import importlib, pkgutil, sys
import grc
for module in pkgutil.iter_modules(grc.__path__):
    if module.name != "blender":  # the Blender add-on runs inside Blender
        importlib.import_module("grc." + module.name)
print(" ".join(sorted({name.split(".")[0] for name in sys.modules})))
"""


def test_the_library_imports_without_qt_or_vtk():
    done = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, check=True)
    imported = set(done.stdout.split())
    assert "grc" in imported
    assert not imported & GUI_ONLY
