"""Fixtures for the GRC Studio tests: real windows under Xvfb (pytest-xvfb), files in tmp folders."""

import shutil
from pathlib import Path

import pytest

pytest.importorskip("pytestqt")
pytest.importorskip("pyvistaqt")

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def recovery_folder(tmp_path, monkeypatch):
    """Recovery files go to a tmp folder, never the user's."""
    folder = tmp_path / "recovery"
    monkeypatch.setenv("GRC_STUDIO_RECOVERY", str(folder))
    return folder


@pytest.fixture
def dialogs(monkeypatch):
    """Record message boxes instead of blocking on them; `answers` says what question() returns."""
    from PyQt5.QtWidgets import QMessageBox

    record = {"warning": [], "question": [], "answers": []}

    def warning(parent, title, text, *args, **kwargs):
        record["warning"].append((title, text))
        return QMessageBox.Ok

    def question(parent, title, text, *args, **kwargs):
        record["question"].append((title, text))
        return record["answers"].pop(0) if record["answers"] else QMessageBox.Cancel

    monkeypatch.setattr(QMessageBox, "warning", staticmethod(warning))
    monkeypatch.setattr(QMessageBox, "critical", staticmethod(warning))
    monkeypatch.setattr(QMessageBox, "question", staticmethod(question))
    return record


@pytest.fixture
def files(tmp_path):
    """A copy of the petal model and its template folder."""
    model = tmp_path / "petal.grc"
    shutil.copy(REPO / "meshes" / "petal.grc", model)
    folder = tmp_path / "petal"
    shutil.copytree(REPO / "templates" / "petal", folder)
    return model, folder


@pytest.fixture
def make_window(qtbot, dialogs):
    """Build a shown MainWindow opened on a path; closed (edits discarded) after the test."""
    from gui.app import MainWindow

    windows = []

    def make(path=None):
        window = MainWindow()
        qtbot.addWidget(window)
        window.resize(1100, 700)
        window.show()
        qtbot.waitExposed(window)
        if path is not None:
            assert window.open(path), dialogs["warning"]
        window.draw_now()
        windows.append(window)
        return window

    yield make
    left_open = []
    for window in windows:
        if window.worker is not None:
            window.worker.cancel()
            window.worker.wait()
        for panel in (window.gallery, window.divergence):  # background work left running: stopped, so the
            panel.stop()                                       # close does not ask about it
            if panel.worker is not None:
                panel.worker.wait()
        window.doc.undo.setClean()
        window.bend_panel.undo.setClean()
        window.model_unsaved = False
        window.close()
        if window.isVisible():  # a close that asked about unsaved work (and was answered Cancel) ...
            left_open.append(window)
            window.view.close_plotter()
            window.hide()
    # ... fails the test: a window left open keeps its 3D view's X connection past the virtual display's end,
    # and Qt then exits the whole run with status 1 after every test passed (each window is closed first)
    from PyQt5.QtCore import Qt
    from PyQt5.QtWidgets import QApplication

    shown = [w for w in QApplication.topLevelWidgets()  # (a tooltip or an open popup list goes by itself)
             if w.isVisible() and w.windowType() not in (Qt.ToolTip, Qt.Popup)]
    assert not left_open, "a window did not close: it asked about unsaved work"
    assert not shown, f"windows left open: {[w.objectName() or type(w).__name__ for w in shown]}"


@pytest.fixture
def window(make_window, files):
    """A window on (a copy of) the trained petal model, its templates in a tmp folder."""
    model, folder = files
    w = make_window()
    w.doc.open_model(model, folder)
    w.draw_now()
    return w


@pytest.fixture
def drag():
    return send_drag


def send_drag(widget, points, modifiers=None):
    """A left-button drag through `points` (QPoints), delivered to the widget as real mouse events."""
    from PyQt5.QtCore import QEvent, QPointF, Qt
    from PyQt5.QtGui import QMouseEvent
    from PyQt5.QtWidgets import QApplication

    modifiers = Qt.NoModifier if modifiers is None else modifiers

    def send(kind, point, button, buttons):
        QApplication.sendEvent(widget, QMouseEvent(kind, QPointF(point), button, buttons, modifiers))

    send(QEvent.MouseButtonPress, points[0], Qt.LeftButton, Qt.LeftButton)
    for p in points[1:]:
        send(QEvent.MouseMove, p, Qt.NoButton, Qt.LeftButton)
    send(QEvent.MouseButtonRelease, points[-1], Qt.LeftButton, Qt.NoButton)
