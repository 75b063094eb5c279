"""`grc studio --benchmark`: how long a slider move takes, measured against a bare pyvista render.

Run under Xvfb (software OpenGL). Prints one line per measure, `<name>: p50 <x> ms, p95 <y> ms`:

- update: decode -> subdivide -> update the mesh in place (no render);
- frame: a programmatic move of the time slider, the blend slider or the context pad (one step of
  a drag), taking turns, each until its pixels are drawn: the move's handlers, the posted draw
  (decode, update, render), the context pad's recompute and repaint, Qt's repaint of the slider and
  spin box and the flush of the window;
- baseline: bare renders of the same scene in a plain pyvista window of the same size beside the
  app, right after the frames: the same surface, camera and colours, replaying the shapes (points
  and normals) the app drew, one render per frame; `frame - baseline` is what the app adds;
- sketch-drag: in Sketch, one step of a drag of a grid point in the top view with proportional
  editing on (smooth falloff, mirror), each until its pixels are drawn: the move's handlers, the
  3D view's draw of the edited template and the repaint of the three 2D views (issue 12: a drag with
  falloff redraws within the budget of a slider move; printed next to `frame`, same run, same size);
- frame-640x400 / baseline-640x400: the same at a 640 x 400 viewport;
- training-event-loop: while a training runs in the worker, how long a posted event waits.

The notes of frame, sketch-drag and frame-640x400 give the share of the 3D view's render in them
(VTK's render, timed from its render window's start and end events inside each move): what is left
is the app's own work (handlers, decode, mesh update, the 2D repaints, Qt's flush).

Scrubbing starts once the app has computed, in the background, the traces at every slider time
(about 0.3 s after a model opens; until then a time move computes its own, ~0.3 ms more), the
context pad's shading and the live check (`settle`).
"""

from __future__ import annotations

import itertools
import time as clock

import numpy as np
from PyQt5.QtCore import QEvent, QObject, QPointF, Qt, QTimer
from PyQt5.QtGui import QMouseEvent
from PyQt5.QtWidgets import QApplication
from vtkmodules.util.numpy_support import vtk_to_numpy

import grc

FRAMES = 300  # moves measured (and as many bare renders)
WARMUP = 2  # untimed steps before each
SETTLE = 0.5  # s: the event loop runs this long after the switch to Sketch before the drag starts


def percentiles(samples) -> tuple[float, float]:
    ms = np.asarray(samples) * 1e3
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 95))


def line(name, samples, note="") -> str:
    p50, p95 = percentiles(samples)
    return f"{name}: p50 {p50:.2f} ms, p95 {p95:.2f} ms" + (f" ({note})" if note else "")


def measure_update(window, n=FRAMES * 2):
    state, view = window.state, window.view
    times = []
    for i in range(n):
        state.time = float(np.interp(i % 50, [0, 49], window.doc.model.templates.time[[0, -1]]))
        state.weights = window.doc.model.blend_weights(-0.5 + 2 * (i % 37) / 36)
        start = clock.perf_counter()
        view.update_grid(state.grid())
        times.append(clock.perf_counter() - start)
    return times


class RenderClock:
    """How long the 3D view's renders inside each move take: VTK's start and end events on its render window."""

    def __init__(self, view):
        self.window = view.plotter.ren_win
        self.seconds, self._start = [], None
        self._tags = [self.window.AddObserver("StartEvent", self._started),
                      self.window.AddObserver("EndEvent", self._ended)]

    def _started(self, *_):
        self._start = clock.perf_counter()

    def _ended(self, *_):
        if self._start is not None:
            self.seconds.append(clock.perf_counter() - self._start)
            self._start = None

    def take(self) -> float:
        """The render time since the last take (seconds), and start again."""
        total = sum(self.seconds)
        self.seconds.clear()
        return total

    def remove(self):
        for tag in self._tags:
            self.window.RemoveObserver(tag)


def render_note(renders) -> str:
    p50, p95 = percentiles(renders)
    return f"3D render in it p50 {p50:.2f} ms, p95 {p95:.2f} ms"


def mouse(widget, kind, pos):
    QApplication.sendEvent(widget, QMouseEvent(kind, pos, Qt.LeftButton, Qt.LeftButton, Qt.NoModifier))


def app_frames(window, renders=None):
    """Slider and pad moves, each timed until its pixels are drawn; three kinds of move take turns.

    Yields (seconds, shape): shape is the surface as drawn, (points, normals), copied off the clock;
    `renders` (a list) gets the seconds of the 3D render inside each move.

    A pad move is one step of a drag: the path is grabbed (pressed) before the clock starts and let
    go after it stops, as neither changes anything on screen; the clock times the mouse move.
    """
    app, view, panel = QApplication.instance(), window.view, window.explore_panel
    pad = panel.pad
    rendered, painted = [], []
    view.rendered.connect(lambda: rendered.append(1))
    pad.painted.connect(lambda: painted.append(1))
    render_clock = RenderClock(view)
    try:
        for i in itertools.count():
            kind = i % 3
            if kind == 2:  # grab the context path where it ends
                grabbed = pad.to_screen(pad.morph[-1], pad.path[-1, 0])
                mouse(pad, QEvent.MouseButtonPress, grabbed)
                to = QPointF(grabbed.x(), grabbed.y() + (6 if i % 2 else -6))
                move = QMouseEvent(QEvent.MouseMove, to, Qt.LeftButton, Qt.LeftButton, Qt.NoModifier)  # as delivered
            elif kind in (0, 1):
                slider = (panel.time.slider, panel.blend_sliders[0].slider)[kind]
                to = (200 + (i * 37) % 700) if kind == 0 else (150 + (i * 53) % 700)
                to += to == slider.value()  # a move (a pad drag may have left the blend slider there)
            rendered.clear()
            painted.clear()
            render_clock.take()
            start = clock.perf_counter()
            if kind in (0, 1):
                slider.setValue(to)
            else:  # drag it a little, as a mouse would
                QApplication.sendEvent(pad, move)
            # until both the 3D view's frame and the context pad's repaint are done (every move changes both)
            while not (rendered and painted):
                app.processEvents()
                if clock.perf_counter() - start > 5:
                    raise RuntimeError(f"a move of kind {kind} drew nothing within 5 s")
            app.processEvents()  # anything else the move queued (the slider's own repaint, the backing store flush)
            elapsed = clock.perf_counter() - start
            if renders is not None:
                renders.append(render_clock.take())
            if kind == 2:
                mouse(pad, QEvent.MouseButtonRelease, to)
            yield elapsed, view.surface_arrays()
    finally:
        render_clock.remove()
        view.rendered.disconnect()
        pad.painted.disconnect()


class Painted(QObject):
    """Counts paint events of the widgets it watches."""

    def __init__(self, widgets):
        super().__init__()
        self.widgets, self.count = list(widgets), set()
        for w in self.widgets:
            w.installEventFilter(self)

    def eventFilter(self, obj, event):
        if event.type() == QEvent.Paint:
            self.count.add(obj)
        return False

    def remove(self):
        for w in self.widgets:
            w.removeEventFilter(self)


def sketch_drag_frames(window, n=FRAMES, row=3, point=1, step=4, renders=None):
    """Moves of a drag with falloff in Sketch's top view, each timed until the 3D view has drawn and the
    three 2D views have repainted (and one more turn of the event loop). Returns the seconds of each move;
    `renders` (a list) gets the seconds of the 3D render inside each.

    The point is grabbed before the clock starts; the moves go 6 px up and down about where it was
    grabbed; the drag is let go and undone afterwards (the template is as it was).
    """
    from .app import TABS

    app, view, sketch = QApplication.instance(), window.view, window.sketch
    views = window.sketch_panel.views
    top = views["top"]
    tab = window.tabs.currentIndex()
    window.tabs.setCurrentIndex(TABS.index("sketch"))
    settings = dict(proportional=sketch.proportional, mirror=sketch.mirror, step=sketch.step, falloff=sketch.falloff)
    sketch.set(step=step, proportional=True, mirror=True, falloff="smooth", selected=None)
    window.draw_now()
    settled = clock.perf_counter() + SETTLE
    while clock.perf_counter() < settled:  # what the switch to Sketch started (actors remade, smoothed frames)
        app.processEvents()
    undo_count = window.doc.undo.count()
    at = top.to_screen(sketch.grid()[row, point][list(top.axes)])
    rendered = []
    view.rendered.connect(lambda: rendered.append(1))
    painted = Painted(views.values())
    render_clock = RenderClock(view)
    times, render_times = [], []
    try:
        mouse(top, QEvent.MouseButtonPress, at)
        for i in range(WARMUP + n):
            to = QPointF(at.x() + (i % 5 - 2) * 2, at.y() + (6 if i % 2 else -6))
            move = QMouseEvent(QEvent.MouseMove, to, Qt.NoButton, Qt.LeftButton, Qt.NoModifier)
            rendered.clear()
            painted.count.clear()
            render_clock.take()
            start = clock.perf_counter()
            QApplication.sendEvent(top, move)
            while not (rendered and len(painted.count) == len(views)):
                app.processEvents()
                if clock.perf_counter() - start > 5:
                    raise RuntimeError("a sketch drag move drew nothing within 5 s")
            app.processEvents()
            times.append(clock.perf_counter() - start)
            render_times.append(render_clock.take())
        QApplication.sendEvent(top, QMouseEvent(QEvent.MouseButtonRelease, to, Qt.LeftButton, Qt.NoButton,
                                                Qt.NoModifier))
    finally:
        render_clock.remove()
        view.rendered.disconnect()
        painted.remove()
        if window.doc.undo.count() > undo_count:  # the drag (one undo step): undone
            window.doc.undo.undo()
        sketch.set(**settings)
        window.tabs.setCurrentIndex(tab)
        for _ in range(5):
            app.processEvents()
        window.draw_now()
    if renders is not None:
        renders.extend(render_times[WARMUP:])
    return times[WARMUP:]


def bare_plotter(view, size):
    """A plain pyvista window of `size`, beside the app, with the 3D view's scene: the same surface,
    colours, lighting and camera. Returns (plotter, show): show(shape) puts a shape as the app drew
    it, (points, normals), into the surface."""
    import pyvista as pv

    from .view3d import FXAA, MULTI_SAMPLES

    plotter = pv.Plotter(window_size=size, off_screen=False)
    plotter.ren_win.SetMultiSamples(MULTI_SAMPLES)  # the app's settings
    if FXAA:
        plotter.enable_anti_aliasing("fxaa")
    plotter.set_background(view.background[0], top=view.background[1])
    surface = view.surface.copy()
    actor = plotter.add_mesh(surface, color=view.surface_actor.prop.color, smooth_shading=False, specular=0.3,
                             specular_power=20)
    actor.prop.interpolation = "gouraud"
    plotter.camera.DeepCopy(view.plotter.camera)  # the view angle too: the app zooms by narrowing it
    screen = QApplication.primaryScreen().geometry()
    plotter.ren_win.SetPosition(max(0, min(view.window().width(), screen.width() - size[0])), 0)
    plotter.show(auto_close=False, interactive=False)
    arrays = surface.GetPoints().GetData(), surface.GetPointData().GetArray("Normals")

    def show(shape):
        for array, values in zip(arrays, shape):
            vtk_to_numpy(array)[:] = values
            array.Modified()
        surface.Modified()

    return plotter, show


def bare_renders(view, size, shapes):
    """Bare renders of `shapes` (as the app drew them) in the same scene: each shape, then a timed render."""
    plotter, show = bare_plotter(view, size)
    try:
        for shape in shapes:
            show(shape)
            start = clock.perf_counter()
            plotter.render()
            yield clock.perf_counter() - start
    finally:
        plotter.close()


def side_by_side(window, n=FRAMES, renders=None):
    """`frame` and `baseline` samples, n each, in one run: the app's moves, then bare renders of the
    shapes those moves drew, in the same order (`renders` gets the 3D render's share of each move).

    Both start after WARMUP untimed steps. (Taking them in alternating turns of 20 was tried, to
    spread the machine's drift over both: over five rounds in one process the median difference was
    the same, 5.1 against 5.2 ms at p95, and no steadier, so the simpler order stays.)
    """
    view = window.view
    rendered = []
    frames = app_frames(window, rendered)
    frame, shapes = zip(*itertools.islice(frames, WARMUP + n))
    frames.close()
    if renders is not None:
        renders.extend(rendered[WARMUP:])
    baseline = list(bare_renders(view, (view.width(), view.height()), shapes))
    return frame[WARMUP:], baseline[WARMUP:]


def measure_training_event_loop(window, seconds=8.0):
    """Post an event every 10 ms while a training runs in the worker; record how long each waits."""
    from .worker import TrainWorker

    app = QApplication.instance()
    config = grc.Config.from_preset("default", steps=100000, template_steps=50, template_lbfgs_steps=0)
    worker = TrainWorker(window.doc.template_set(), config, "cpu")
    waits, progress = [], []
    worker.progress.connect(lambda *p: progress.append(p))
    worker.start()
    end = clock.perf_counter() + seconds
    while clock.perf_counter() < end and worker.isRunning():
        count, posted = len(waits), clock.perf_counter()
        QTimer.singleShot(0, lambda posted=posted: waits.append(clock.perf_counter() - posted))
        while len(waits) == count:
            app.processEvents()
        target = posted + 0.01
        while clock.perf_counter() < target:
            app.processEvents()
    worker.cancel()
    worker.wait()
    return waits, len(progress)


def settle(window):
    """Let the background work that opening a model starts finish before the clock runs: the context
    pad's shading (Beyond's verdicts over the blend, a thread 400 ms after the shape holds still) and
    the live check (60 ms after), so that the moves measured compete with nothing the app started
    earlier (one such thread ran during the first moves and showed in the p95)."""
    beyond = getattr(window, "beyond", None)
    if beyond is not None:
        beyond.wait_for_bands()
        beyond.run_check()
    QApplication.instance().processEvents()


def run(window):
    """Print the measures for this window (its current size), then at a 640 x 400 viewport."""
    app = QApplication.instance()
    remembering = getattr(window.explore_panel, "remembering", None)
    if remembering is not None:
        remembering.join()  # see the module's docstring
    window.tabs.setCurrentIndex(0)
    for _ in range(5):
        app.processEvents()
    window.draw_now()
    settle(window)
    view = window.view
    size = (view.width(), view.height())
    print(f"window {window.width()}x{window.height()}, 3D viewport {size[0]}x{size[1]}, "
          f"subdivide {window.state.subdivide}, {len(view.surface.points)} vertices")
    print(line("update", measure_update(window)), flush=True)
    renders = []
    frame, baseline = side_by_side(window, renders=renders)
    print(line("frame", frame, f"viewport {size[0]}x{size[1]}; {render_note(renders)}"), flush=True)
    print(line("baseline", baseline, f"viewport {size[0]}x{size[1]}"), flush=True)
    renders = []
    drag = sketch_drag_frames(window, renders=renders)
    print(line("sketch-drag", drag, f"viewport {size[0]}x{size[1]}, top view, falloff on; {render_note(renders)}"),
          flush=True)
    view.setFixedSize(640, 400)
    for _ in range(10):
        app.processEvents()
    window.draw_now()
    settle(window)
    renders = []
    frame, baseline = side_by_side(window, renders=renders)
    print(line("frame-640x400", frame, f"viewport {view.width()}x{view.height()}; {render_note(renders)}"), flush=True)
    print(line("baseline-640x400", baseline, f"viewport {view.width()}x{view.height()}"), flush=True)
    waits, reports = measure_training_event_loop(window)
    print(line("training-event-loop", waits, f"{len(waits)} events, {reports} progress reports"), flush=True)
