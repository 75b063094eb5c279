"""Make the documentation's screenshots: `xvfb-run -a python -m gui.screenshots docs/images`.

Each part of the app (explore, drawn context path, flower, sketch, train, export) is shown on a
copy of the bundled petal model and templates (nothing in the repository is changed).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time as clock
from pathlib import Path

import numpy as np
from PyQt5.QtWidgets import QApplication

import grc
from grc import examples

from .app import MainWindow, _app


def settle(window, seconds=0.3):
    """Let the shot's shape settle: its frame drawn, and Beyond's live check (the chips) and pad shading done."""
    app = QApplication.instance()
    end = clock.perf_counter() + seconds
    while clock.perf_counter() < end:
        app.processEvents()
    window.draw_now()
    beyond = getattr(window, "beyond", None)
    if beyond is not None and window.doc.model is not None:
        beyond.wait_for_bands()
        beyond.run_check()
    app.processEvents()


def main(out="docs/images") -> int:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    app = _app()  # noqa: F841 - keep the application alive
    work = Path(tempfile.mkdtemp())
    shutil.copy(examples.model_path(), work / "petal.grc")
    shutil.copytree(examples.template_set_path(), work / "petal")
    window = MainWindow()
    window.resize(1280, 800)
    window.show()
    window.open(str(work / "petal.grc"))
    window.doc.open_model(work / "petal.grc", work / "petal")
    s, panel = window.state, window.explore_panel

    def shot(name):
        window.save_screenshot(out / name)
        window.statusBar().clearMessage()  # its "Wrote ..." is not part of the next shot

    s.set_time(0.8)
    s.set_blend(0.5)
    settle(window)
    shot("studio-explore.png")

    s.set_blend(1.6)  # beyond the second template
    panel.grid.setChecked(True)
    settle(window)
    shot("studio-extrapolate.png")
    panel.grid.setChecked(False)

    pad = panel.pad
    pad.refresh()
    path = pad.path.copy()
    path[:, 0] += 0.8 * np.sin(np.linspace(0, np.pi, len(path)))  # an exploratory path (Figure 8)
    s.set_path(path)
    settle(window)
    shot("studio-context-path.png")

    s.set_path(None)
    s.set_blend(0.3)
    panel.petals.setValue(6)
    panel.subdivide.setValue(3)
    settle(window)
    shot("studio-flower.png")
    panel.petals.setValue(1)
    panel.subdivide.setValue(2)

    window.tabs.setCurrentIndex(1)
    window.sketch.set(k=1, step=4, selected=(4, 1))
    window.sketch.move(4, 1, [0.0, -0.03, 0.04])
    settle(window)
    shot("studio-sketch.png")

    window.tabs.setCurrentIndex(2)
    window.train_config = grc.Config.from_preset("default", steps=3000, template_steps=200, template_lbfgs_steps=0,
                                                 refine_steps=0)
    window.start_training()
    deadline = clock.perf_counter() + 60
    while clock.perf_counter() < deadline and window.train_panel.bar.value() < 500:
        QApplication.instance().processEvents()
    settle(window)
    shot("studio-train.png")
    window.cancel_training()
    while window.worker is not None:
        QApplication.instance().processEvents()

    window.tabs.setCurrentIndex(3)
    window.export_shape(work / "petal.glb")
    settle(window)
    shot("studio-export.png")
    window.export_traces(out / "studio-traces.png")

    window.doc.undo.setClean()
    window.close()
    shutil.rmtree(work, ignore_errors=True)
    print("\n".join(str(p) for p in sorted(out.glob("studio-*.png"))))
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
