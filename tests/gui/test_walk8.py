"""Session 22's fixes of what the last walkthroughs left: unticking Rewrite left the control grid it had turned on,
the sprout opened dark (lit from above only), a growing window widened the side panel instead of the 3D view,
Sketch did not re-frame after a huge typed G, a pad stroke ending a few pixels short of the border left a jump at
the path's end, and the Blend models dialog blocked the side panel's scrolling, stayed too short for its note,
stayed put when the window moved, and let R over the 3D view do nothing. Each test failed before its fix."""

import numpy as np
import pytest
from PyQt5 import sip
from PyQt5.QtCore import QPoint, Qt
from PyQt5.QtGui import QCursor
from PyQt5.QtWidgets import QApplication

import grc
from grc_testing import ROOT
from test_beyond import other_model
from test_sketch_tools import sketch_window, wheel

TINY = dict(steps=20, template_steps=10, template_lbfgs_steps=0, refine_steps=0, refine_extrapolations=0,
            refine_extrapolations_linear=0, refine_repairs=0)


def test_unticking_rewrite_gives_back_the_control_grid_it_turned_on(window, qtbot):
    """Ticking Rewrite shows the control grid (its points are what a drag takes); unticking it left the grid on."""
    panel, grid, view = window.rewrite_panel, window.explore_panel.grid, window.view
    assert not grid.isChecked()
    qtbot.mouseClick(panel.mode, Qt.LeftButton)
    window.draw_now()
    assert panel.mode.isChecked() and grid.isChecked() and view.grid_actor.GetVisibility()
    qtbot.mouseClick(panel.mode, Qt.LeftButton)
    window.draw_now()
    assert not panel.mode.isChecked()
    assert not grid.isChecked() and not window.state.show_grid and not view.grid_actor.GetVisibility()
    # the grid on before Rewrite: it stays on
    qtbot.mouseClick(grid, Qt.LeftButton)
    qtbot.mouseClick(panel.mode, Qt.LeftButton)
    qtbot.mouseClick(panel.mode, Qt.LeftButton)
    window.draw_now()
    assert grid.isChecked() and window.state.show_grid and view.grid_actor.GetVisibility()
    # turned off by hand during Rewrite: it stays off
    qtbot.mouseClick(grid, Qt.LeftButton)
    qtbot.mouseClick(panel.mode, Qt.LeftButton)
    assert grid.isChecked()
    qtbot.mouseClick(grid, Qt.LeftButton)
    qtbot.mouseClick(panel.mode, Qt.LeftButton)
    assert not grid.isChecked() and not window.state.show_grid
