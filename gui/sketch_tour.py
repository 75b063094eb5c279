"""Drive the Sketch tab with xdotool, as a person would, and save the documentation's screenshots:

    xvfb-run -a -s "-screen 0 1366x768x24" python -m gui.sketch_tour docs/images

Real X events (xdotool) on a copy of the bundled petal: duplicate a template, switch proportional editing
on (O), carry edits to later time steps, drag the tip while sizing the radius with the wheel, widen the
petal, drag a point in the 3D view, start a new set from nothing. Prints what changed, and fails if an undo does not restore it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time as clock
from pathlib import Path

import numpy as np
from PyQt5.QtCore import QPoint

from grc import examples

from .app import MainWindow, _app
from .sketch_new import NewSetDialog

SIZE = (1366, 740)


def main(out="docs/images") -> int:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    app = _app()
    work = Path(tempfile.mkdtemp())
    shutil.copy(examples.model_path(), work / "petal.grc")
    shutil.copytree(examples.template_set_path(), work / "petal")
    window = MainWindow()
    window.resize(*SIZE)
    window.move(0, 0)
    window.show()
    window.open(work / "petal.grc")

    def pump(seconds=0.3):
        end = clock.perf_counter() + seconds
        while clock.perf_counter() < end:
            app.processEvents()
            clock.sleep(0.005)

    def xdo(*args):
        subprocess.run(["xdotool", *map(str, args)], check=True)
        pump(0.15)

    def click(widget, at=None):
        g = widget.mapToGlobal(widget.rect().center() if at is None else at)
        xdo("mousemove", g.x(), g.y())
        xdo("click", 1)

    def shot(name, widget=None):
        pump(0.4)
        window.draw_now()
        pump(0.2)
        if widget is None:
            app.primaryScreen().grabWindow(0, 0, 0, *SIZE).save(str(out / name))
        else:
            widget.grab().save(str(out / name))
        print("wrote", out / name)

    def on_screen(view, point):
        q = view.to_screen(np.asarray(point)[list(view.axes)])
        g = view.mapToGlobal(QPoint(round(q.x()), round(q.y())))
        return g.x(), g.y()

    pump(1.0)
    window.activateWindow()
    tabs = window.tabs.tabBar()
    click(tabs, tabs.tabRect(1).center())
    panel, sketch, doc = window.sketch_panel, window.sketch, window.doc
    click(panel.duplicate)  # work on a copy: petal-a-copy
    click(panel.step)
    for key in ["Left"] * 6 + ["Right"] * 3:  # time step 3 (time 0.55)
        xdo("key", key)
    front, top = panel.views["front"], panel.views["top"]
    click(front, QPoint(8, front.height() - 8))
    xdo("key", "o")  # proportional editing
    click(panel.time_mode)
    pump(0.3)
    xdo("key", "Down")
    xdo("key", "Return")  # this and later steps
    k = sketch.k
    before = doc.templates[k].points.copy()
    # 1. the tip down in the front view, the radius sized with the wheel while dragging
    x, y = on_screen(front, sketch.grid()[6, 3])
    xdo("mousemove", x, y)
    xdo("mousedown", 1)
    for dy in (10, 30, 50, 70, 90):
        xdo("mousemove", x + dy // 10, y + dy)
    xdo("click", 4)
    xdo("click", 4)
    shot("studio-sketch-proportional.png")
    xdo("mouseup", 1)
    # 2. widen the middle of the petal in the top view (its mirror partner follows)
    x, y = on_screen(top, sketch.grid()[3, 0])
    xdo("mousemove", x, y)
    xdo("mousedown", 1)
    for dy in (8, 16, 24):
        xdo("mousemove", x, y + dy)
    xdo("mouseup", 1)
    after = doc.templates[k].points.copy()
    moved = np.linalg.norm(after[:, 6, 3] - before[:, 6, 3], axis=-1)
    print("tip moved at each time step:", np.round(moved, 3), "| undo steps:", doc.undo.count())
    shot("studio-sketch-edited.png")
    for _ in range(2):
        xdo("key", "ctrl+z")
    if not np.array_equal(doc.templates[k].points, before):
        print("undo did not restore the template", file=sys.stderr)
        return 1
    xdo("key", "ctrl+y")
    xdo("key", "ctrl+y")
    if not np.array_equal(doc.templates[k].points, after):
        print("redo did not bring the edit back", file=sys.stderr)
        return 1
    # 3. in the 3D view: hover rings a point, a drag moves it by the cursor's motion (grab offset kept) with
    # the same falloff, the wheel sizes the radius; one undo step
    view = window.view
    widget = view.plotter.interactor  # the Qt widget VTK draws into
    row, point = 4, 0

    def on_screen_3d():
        grid = sketch.grid()
        x, y, depth = view.display_points(grid)[row * grid.shape[1] + point]
        ratio = widget.devicePixelRatioF()
        g = widget.mapToGlobal(QPoint(round(x / ratio), round(widget.height() - 1 - y / ratio)))
        return g.x(), g.y()

    x, y = on_screen_3d()
    xdo("mousemove", x + 20, y + 20)
    xdo("mousemove", x + 5, y + 2)  # 5 px off the point: it is ringed, a press takes it
    shot("studio-sketch-3d-hover.png")
    xdo("mousedown", 1)
    for d in (8, 16, 24, 32, 40):
        xdo("mousemove", x + 5 - d, y + 2 - d // 2)
    xdo("click", 5)
    shot("studio-sketch-3d-drag.png")
    xdo("mouseup", 1)
    pump(0.3)
    window.draw_now()
    nx, ny = on_screen_3d()
    print(f"3D drag: the cursor moved (-40, -20) px, the point ({nx - x}, {ny - y}) px; undo steps: {doc.undo.count()}")
    if abs(nx - x + 40) > 2 or abs(ny - y + 20) > 2:
        print("the point did not follow the cursor's motion in the 3D view", file=sys.stderr)
        return 1
    xdo("key", "ctrl+z")
    if not np.array_equal(doc.templates[k].points, after):
        print("undo did not take the 3D drag back", file=sys.stderr)
        return 1
    # 4. a new set from nothing: the dialog, then a flat sheet growing over time
    dialog = NewSetDialog(doc.templates[k], window)
    dialog.steps.setValue(5)
    dialog.show()
    pump(0.3)
    shot("studio-sketch-new-set.png", dialog)
    dialog.start.setCurrentIndex(dialog.start.findData("flat"))
    templates = dialog.templates()
    dialog.close()
    doc.undo.setClean()
    window.new_set(templates)
    sketch.set(step=4)
    shot("studio-sketch-flat-sheet.png")
    doc.undo.setClean()
    window.model_unsaved = False
    window.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(*sys.argv[1:]))
