"""Sketch in the 3D view: a press near a grid point grabs it, a drag moves it (one undo step)."""

import numpy as np
from PyQt5.QtCore import QPoint


def test_dragging_a_grid_point_in_the_3d_view(make_window, files, drag):
    model, folder = files
    window = make_window(folder)
    window.tabs.setCurrentIndex(1)
    window.sketch.set(k=0, step=4, mirror=False)
    window.draw_now()
    widget = window.view.plotter.interactor  # the Qt widget VTK draws into
    grid = window.sketch.grid()
    before = window.doc.templates[0].points.copy()
    x, y, _ = window.view.display_points(grid)[3 * grid.shape[1] + 3]
    ratio = widget.devicePixelRatioF()
    start = QPoint(int(round(x / ratio)), int(round(widget.height() - 1 - y / ratio)))
    drag(widget, [start, start + QPoint(10, 0), start + QPoint(30, -20)])
    after = window.doc.templates[0].points
    moved = np.argwhere(np.any(after != before, axis=-1))
    assert [tuple(m) for m in moved] == [(4, 3, 3)]
    assert window.doc.undo.count() == 1
    assert window.sketch.selected == (3, 3)
