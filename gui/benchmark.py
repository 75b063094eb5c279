"""`grc studio --benchmark`: how long a slider move takes, measured against a bare pyvista render.

Run under Xvfb (software OpenGL). Prints one line per measure, `<name>: p50 <x> ms, p95 <y> ms`:

- update: decode -> subdivide -> update the mesh in place (no render);
- frame: a programmatic move of the time slider, the blend slider or the context pad (one step of
  a drag), taking turns, each until its pixels are drawn: the move's handlers, the posted draw
  (decode, update, render), the context pad's recompute and repaint, Qt's repaint of the slider and
  spin box and the flush of the window;
- baseline: a bare render of the same scene in a plain pyvista window of the same size beside the
  app (`BareScene`: every actor of the 3D view, its colours, camera and render settings), right
  after each move, of the scene that move drew (paired: see `paired`); `baseline-back-to-back`:
  the same scenes rendered one after another (the baseline of sessions 1-8);
- sketch-drag: in Sketch, one step of a drag of a grid point in the top view with proportional
  editing on (smooth falloff, mirror), each until its pixels are drawn: the move's handlers, the
  3D view's draw of the edited template and the repaint of the three 2D views; `sketch-baseline`: a
  bare render of the Sketch scene (surface, grid, points, the grabbed point and falloff circle drawn
  over it) right after each move (issue 12: a drag with falloff redraws within the same budget as a
  slider move);
- frame-640x400 / baseline-640x400: the same at a 640 x 400 viewport;
- app adds: move - bare render, p50 and p95, for each of the three; the target (issue 3) is at most
  APP_BUDGET_MS at p95;
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
APP_BUDGET_MS = 5  # what a move may add to a bare render of its scene at p95 (a slider move's budget, issue 3)
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
            yield elapsed, scene_state(view)
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


def sketch_drag_moves(window, row=3, point=1, step=4, renders=None, size=None):
    """Moves of a drag with falloff in Sketch's top view, each timed until the 3D view has drawn and the
    three 2D views have repainted (and one more turn of the event loop). Yields (seconds, scene_state);
    `renders` (a list) gets the seconds of the 3D render inside each move.

    The point is grabbed before the clock starts; the moves go 6 px up and down about where it was
    grabbed; once the generator is closed the drag is let go and undone (the template is as it was).
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
    if size is not None:  # (a list) gets the 3D view's size in Sketch
        size[:] = [view.width(), view.height()]
    at = top.to_screen(sketch.grid()[row, point][list(top.axes)])
    rendered = []
    view.rendered.connect(lambda: rendered.append(1))
    painted = Painted(views.values())
    render_clock = RenderClock(view)
    to = at
    try:
        mouse(top, QEvent.MouseButtonPress, at)
        for i in itertools.count():
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
            elapsed = clock.perf_counter() - start
            if renders is not None:
                renders.append(render_clock.take())
            yield elapsed, scene_state(view)
    finally:
        QApplication.sendEvent(top, QMouseEvent(QEvent.MouseButtonRelease, to, Qt.LeftButton, Qt.NoButton,
                                                Qt.NoModifier))
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


def sketch_drag_frames(window, n=FRAMES, renders=None, **drag):
    """The seconds of n moves of `sketch_drag_moves` (after WARMUP untimed ones)."""
    seen = []
    moves = sketch_drag_moves(window, renders=seen, **drag)
    try:
        times = [elapsed for elapsed, _ in itertools.islice(moves, WARMUP + n)]
    finally:
        moves.close()
    if renders is not None:
        renders.extend(seen[WARMUP:])
    return times[WARMUP:]


def scene_actors(render_window):
    """(renderer, actor) for every actor of every layer of `render_window`, in a fixed order."""
    return [(renderer, actor) for renderer in render_window.GetRenderers()
            for actor in renderer.GetActors()]


def scene_state(view):
    """What the 3D view shows now, off the clock: the camera, which layers draw, and for each actor
    whether it shows, where it is placed and its points (and normals) as drawn."""
    state = []
    for renderer, actor in scene_actors(view.plotter.ren_win):
        data = actor.GetMapper().GetInput()
        normals = data.GetPointData().GetNormals()
        state.append((bool(renderer.GetDraw()), bool(actor.GetVisibility()), actor.GetPosition(), actor.GetScale(),
                      np.array(vtk_to_numpy(data.GetPoints().GetData())) if data.GetPoints() else None,
                      None if normals is None else np.array(vtk_to_numpy(normals))))
    camera = view.plotter.camera
    return state, (camera.GetPosition(), camera.GetFocalPoint(), camera.GetViewUp(), camera.GetViewAngle(),
                   camera.GetClippingRange(), camera.GetParallelProjection(), camera.GetParallelScale())


class BareScene:
    """A plain pyvista window of `size`, beside the app, with a copy of the 3D view's scene: every actor
    of every layer (the surface; in Sketch also the grid, its points and the marks drawn over the scene),
    with the view's colours, lighting and render settings. `show(state)` puts a `scene_state` of the
    app's view into the copy (camera included); `render()` draws it and returns the seconds it took."""

    def __init__(self, view, size):
        import pyvista as pv
        from vtkmodules.vtkRenderingCore import vtkPolyDataMapper, vtkProperty, vtkRenderer

        from .view3d import FXAA, MULTI_SAMPLES, light

        self.plotter = plotter = pv.Plotter(window_size=size, off_screen=False)
        plotter.ren_win.SetMultiSamples(MULTI_SAMPLES)  # the app's settings
        if FXAA:
            plotter.enable_anti_aliasing("fxaa")
        plotter.set_background(view.background[0], top=view.background[1])
        light(plotter.renderer)
        window = view.plotter.ren_win
        plotter.ren_win.SetNumberOfLayers(window.GetNumberOfLayers())
        renderers, self.copies = {}, []
        for renderer, actor in scene_actors(window):
            if renderer not in renderers:
                if renderer is view.plotter.renderer:
                    renderers[renderer] = plotter.renderer
                else:  # a layer drawn over the scene
                    copy = renderers[renderer] = vtkRenderer()
                    copy.SetLayer(renderer.GetLayer())
                    copy.SetPreserveDepthBuffer(renderer.GetPreserveDepthBuffer())
                    copy.SetPreserveColorBuffer(renderer.GetPreserveColorBuffer())
                    copy.InteractiveOff()
                    copy.SetActiveCamera(plotter.renderer.GetActiveCamera())
                    plotter.ren_win.AddRenderer(copy)
            new = type(actor)()
            new.ShallowCopy(actor)  # placement, camera of a follower, and so on
            mapper = vtkPolyDataMapper()
            mapper.ShallowCopy(actor.GetMapper())  # its settings (offsets, scalars)
            data = type(actor.GetMapper().GetInput())()
            data.DeepCopy(actor.GetMapper().GetInput())
            mapper.SetInputData(data)
            new.SetMapper(mapper)
            prop = vtkProperty()
            prop.DeepCopy(actor.GetProperty())
            new.SetProperty(prop)
            if hasattr(new, "SetCamera"):
                new.SetCamera(plotter.renderer.GetActiveCamera())
            renderers[renderer].AddActor(new)
            self.copies.append((renderers[renderer], new, data))
        screen = QApplication.primaryScreen().geometry()
        plotter.ren_win.SetPosition(max(0, min(view.window().width(), screen.width() - size[0])), 0)
        plotter.show(auto_close=False, interactive=False)

    def show(self, state):
        if len(state[0]) != len(self.copies):
            raise RuntimeError("the 3D view's actors changed since its scene was copied")
        actors, (position, focal, up, angle, clipping, parallel, scale) = state
        for (renderer, actor, data), (draw, visible, placed, scaled, points, normals) in zip(self.copies, actors):
            renderer.SetDraw(draw)
            actor.SetVisibility(visible)
            actor.SetPosition(placed)
            actor.SetScale(scaled)
            for array, values in ((data.GetPoints() and data.GetPoints().GetData(), points),
                                  (data.GetPointData().GetNormals(), normals)):
                if values is None or array is None:
                    continue
                if array.GetNumberOfTuples() != len(values):  # (a selection of another size)
                    array.SetNumberOfTuples(len(values))
                vtk_to_numpy(array)[:] = values
                array.Modified()
            data.Modified()
        camera = self.plotter.camera
        camera.SetPosition(position)
        camera.SetFocalPoint(focal)
        camera.SetViewUp(up)
        camera.SetViewAngle(angle)
        camera.SetParallelProjection(parallel)
        camera.SetParallelScale(scale)
        camera.SetClippingRange(clipping)

    def render(self) -> float:
        start = clock.perf_counter()
        self.plotter.render()
        return clock.perf_counter() - start

    def close(self):
        self.plotter.close()


def paired(moves, view, n=FRAMES):
    """The app's moves, each followed at once by a bare render of the scene it drew (`BareScene`), and
    then the same scenes rendered bare back to back. Returns (frame, baseline, back_to_back) seconds,
    n each, after WARMUP untimed steps.

    Pairs, not blocks: a render costs more after other work (or a pause) than right after another
    render (measured: 3.8-4.1 ms back to back, 4.7-8.6 ms after a few ms of sleep or of numpy work, at
    640 x 400), and every app move does work between its renders. A baseline rendered back to back
    never pays that, so it charges the machine's wake-up to the app; each bare render right after the
    app's move pays what the move's render pays. Both are printed.
    """
    frame, baseline, states, scene = [], [], [], None
    try:
        first = next(moves)  # (the moves set their scene up first: Sketch's grid and marks)
        scene = BareScene(view, (view.width(), view.height()))  # (as the moves left it: Sketch's panel is narrower)
        for i, (elapsed, state) in enumerate(itertools.chain([first], itertools.islice(moves, WARMUP + n - 1))):
            scene.show(state)
            seconds = scene.render()
            if i >= WARMUP:
                frame.append(elapsed)
                baseline.append(seconds)
                states.append(state)
        back_to_back = []
        for state in states:
            scene.show(state)
            back_to_back.append(scene.render())
    finally:
        moves.close()
        if scene is not None:
            scene.close()
    return frame, baseline, back_to_back


def side_by_side(window, n=FRAMES, renders=None):
    """`frame` and `baseline` samples, n each, in one run, paired (see `paired`): each of the app's
    moves, then a bare render of the scene it drew (`renders` gets the 3D render's share of each move);
    also the same scenes rendered bare back to back (the baseline of sessions 1-8)."""
    view = window.view
    rendered = []
    frame, baseline, back_to_back = paired(app_frames(window, rendered), view, n)
    if renders is not None:
        renders.extend(rendered[WARMUP:WARMUP + n])
    return frame, baseline, back_to_back


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
    frame, baseline, back_to_back = side_by_side(window, renders=renders)
    measured = {"": (frame, baseline)}
    print(line("frame", frame, f"viewport {size[0]}x{size[1]}; {render_note(renders)}"), flush=True)
    print(line("baseline", baseline, f"viewport {size[0]}x{size[1]}, each right after its frame"), flush=True)
    print(line("baseline-back-to-back", back_to_back, f"viewport {size[0]}x{size[1]}"), flush=True)
    renders = []
    sketch_size = []
    moves = sketch_drag_moves(window, renders=renders, size=sketch_size)
    drag, drag_baseline, drag_back_to_back = paired(moves, view)
    measured["sketch-drag"] = (drag, drag_baseline)
    print(line("sketch-drag", drag, f"viewport {sketch_size[0]}x{sketch_size[1]}, top view, falloff on; "
                                    f"{render_note(renders[WARMUP:WARMUP + FRAMES])}"), flush=True)
    print(line("sketch-baseline", drag_baseline, "the Sketch scene (grid, points, marks), each right after its move"),
          flush=True)
    print(line("sketch-baseline-back-to-back", drag_back_to_back), flush=True)
    view.setFixedSize(640, 400)
    for _ in range(10):
        app.processEvents()
    window.draw_now()
    settle(window)
    renders = []
    frame, baseline, back_to_back = side_by_side(window, renders=renders)
    measured["640x400"] = (frame, baseline)
    print(line("frame-640x400", frame, f"viewport {view.width()}x{view.height()}; {render_note(renders)}"), flush=True)
    print(line("baseline-640x400", baseline, f"viewport {view.width()}x{view.height()}, each right after its frame"),
          flush=True)
    print(line("baseline-640x400-back-to-back", back_to_back, f"viewport {view.width()}x{view.height()}"), flush=True)
    for name, (moves, bare) in measured.items():
        (m50, m95), (b50, b95) = percentiles(moves), percentiles(bare)
        print(f"app adds{' (' + name + ')' if name else ''}: p50 {m50 - b50:.2f} ms, p95 {m95 - b95:.2f} ms "
              f"(target: p95 at most {APP_BUDGET_MS:g} ms)", flush=True)
    waits, reports = measure_training_event_loop(window)
    print(line("training-event-loop", waits, f"{len(waits)} events, {reports} progress reports"), flush=True)
