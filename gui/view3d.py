"""The 3D view: one smooth-shaded surface and its control grid, updated in place.

`show(grid)` takes a (rows, points, 3) grid (a generated shape or a template's time step); the
mesh comes from grc.mesh.MeshBuilder, and the actors are made once and then only their points
change. Updates are coalesced: `request(grid_fn)` keeps the latest request and draws it on the
next turn of the event loop (before the repaints the move queued), so slider moves faster than
frames do not pile up.
"""

from __future__ import annotations

import os

import numpy as np
import pyvista as pv
import vtkmodules.qt
from PyQt5 import sip
from PyQt5.QtCore import QCoreApplication, QEvent, QObject, Qt, QTimer, pyqtSignal
from PyQt5.QtGui import QColor, QCursor, QPalette
from PyQt5.QtWidgets import QApplication, QVBoxLayout, QWidget
from pyvista.plotting import BasePlotter
from pyvista.plotting.render_window_interactor import RenderWindowInteractor
from vtkmodules.util.numpy_support import vtk_to_numpy
from vtkmodules.vtkRenderingCore import vtkFollower, vtkPolyDataMapper, vtkRenderer

from grc.mesh import MeshBuilder

vtkmodules.qt.QVTKRWIBase = "QWidget"  # (VTK's default) must be set before the module below is imported
from vtkmodules.qt.QVTKRenderWindowInteractor import QVTKRenderWindowInteractor  # noqa: E402

# Edges are not smoothed: under software OpenGL (llvmpipe) 4x MSAA costs ~50 ms a frame, and even
# FXAA (one full-window pass) ~25 ms at 643 x 756, three times the render. The benchmark's baseline
# uses these same settings.
MULTI_SAMPLES = 0
FXAA = False
# Instead, a view that stands still draws its frame once more with FXAA, this long after its last
# frame: smooth edges to look at, full speed while scrubbing or turning it (an FXAA frame costs about
# 21 ms against 9 ms for a flower of five petals at 643 x 756).
SMOOTH_AFTER_MS = 200
# GRC_STUDIO_QOPENGLWIDGET=1: pyvistaqt's QtInteractor (a QOpenGLWidget) instead of the native view,
# for platforms where VTK cannot draw into a native window (Wayland without XWayland).
OPENGL_WIDGET = os.environ.get("GRC_STUDIO_QOPENGLWIDGET", "") not in ("", "0")
# One colour: under llvmpipe a gradient background (a full-window shaded quad) costs as much as the
# petal itself (~6 ms of a ~7 ms frame at 643 x 756). (bottom, top) would make a gradient again.
BACKGROUND = ("#e6e9f0", None)
SURFACE = "#e8a0b4"
GRID = "#304060"
SELECTED = "#ffb000"
BROKEN = "#d01010"  # faces of a broken shape (crossing itself or folded), Beyond's live check
REGION = "#20a0ff"  # grid points a hovered bend cluster acts on
HOVER = "#ff6000"  # the grid point under the cursor (Sketch), as the 2D views ring it
FOCUS = "#3070c0"  # the frame around the view while it has the keyboard focus, as the 2D views' border
FOCUS_FRAME = 2  # px: its width
PICK_HIT = 4  # px: grid points this near the cursor all count as under it; the one nearest the viewer is picked
PICK_PX = 12  # px: else the nearest point this near (gui.sketch.GridView2D.HIT / PICK)
BROKEN_OUTLINE = 4.0  # px: the broken faces' outline
FIT_MARGIN = 1.0  # re-fit the camera once a vertex lies beyond the view's edge (normalised device units)
FRAME_EDGE = 0.9  # R frames the shape within this much of the view (normalised device units): a little margin
SHRUNK_EDGE = 0.3  # the camera re-fits inwards once the shape it last fitted by itself lies within this much
VIEW_FROM = (-0.8, -1.0, 0.9)  # where the camera looks from (reset_camera): the front (-y), the left and above
# pyvista's light kit (its lights fixed to the camera), its fill light, from below the view, as bright as this (the
# kit's 0.25, a third of its key light): the key light shines from 50 degrees above the view, nearly straight down on
# a shape seen from above, so a shape that stands up (the sprout, facing +y and a little down) showed dark from its
# front as from its back, under half the petal's brightness. As in Blender's studio lighting, what faces the viewer
# is lit, whichever way it faces in the world; the petal, facing up, gets none of the fill and looks as it did.
FILL_LIGHT = 0.7
# The only keys the 3D view answers (Help > Keyboard shortcuts lists them). VTK's and pyvista's own
# hidden keys (3: stereo, w/s: wireframe/surface, e/q: quit, f: fly to, p: pick, j/t: joystick, ...)
# are swallowed before they act.
KEYS_3D = [("R (3D view)", "Frame the shape shown, from the front and above"),
           ("Numpad . (3D view)", "Frame the selection (Sketch; else the shape), keeping the view's direction"),
           ("Esc (3D view, Sketch)", "Cancel the drag of a grid point under way")]
DRAW_EVENT = QEvent.Type(QEvent.registerEventType())  # "draw the pending request", posted to the view


def polydata(vertices, faces) -> pv.PolyData:
    cells = np.hstack([np.full((len(faces), 1), faces.shape[1]), faces]).ravel()
    return pv.PolyData(np.asarray(vertices, float), cells)


def front_view(normals, direction=VIEW_FROM) -> tuple:
    """Where to look from so that a surface shows its front, the side its normals (n, 3) face: `direction`, or, when
    that shows the back, `direction` turned over along the axis the normals face most (the sprout, which grows up
    facing +y, is seen from behind instead of in front; a surface facing down, from below)."""
    facing = np.asarray(normals, float).reshape(-1, 3).sum(axis=0)
    direction = np.array(direction, float)
    if facing @ direction < 0:
        axis = int(np.argmax(np.abs(facing)))
        direction[axis] = np.copysign(abs(direction[axis]), facing[axis])
    if facing @ direction < 0:  # a surface facing along a diagonal: every component that disagrees turned over
        direction = np.where(direction * facing < 0, -direction, direction)
    return tuple(direction)


def light(renderer):
    """The 3D view's lighting (FILL_LIGHT) on a renderer that has pyvista's light kit (the benchmark's bare scene
    too)."""
    for one in renderer.lights:
        if one.light_type == pv.Light.CAMERA_LIGHT and one.position[1] < -0.5:  # (camera coordinates: y up)
            one.intensity = FILL_LIGHT


def grid_lines(rows: int, points: int) -> np.ndarray:
    """VTK line cells of a rows x points grid: every row and every column as a polyline."""
    index = np.arange(rows * points).reshape(rows, points)
    cells = [np.r_[points, r] for r in index] + [np.r_[rows, c] for c in index.T]
    return np.concatenate(cells)


class NativePlotter(BasePlotter):
    """pyvista's plotter API over VTK's own Qt interactor, a plain native QWidget.

    VTK renders straight into the widget's X window and swaps; pyvistaqt's QtInteractor is a
    QOpenGLWidget instead, whose frame is rendered into an offscreen framebuffer, blitted and
    then composited by Qt -- under software OpenGL (Mesa llvmpipe) that costs more than the render
    itself. `interactor` is the widget; `render()` draws at once (the pixels are there on return).
    """

    def __init__(self, parent=None, multi_samples=MULTI_SAMPLES):
        super().__init__()
        self.interactor = QVTKRenderWindowInteractor(parent)
        self.ren_win = self.interactor.GetRenderWindow()
        self.ren_win.SetMultiSamples(multi_samples)
        for renderer in self.renderers:
            renderer.view_isometric()
            self.ren_win.AddRenderer(renderer)
        self.iren = RenderWindowInteractor(self, interactor=self.ren_win.GetInteractor())
        self.iren.interactor.RemoveObservers("MouseMoveEvent")
        self.iren.initialize()
        self.enable_trackball_style()
        self._first_time = False  # BasePlotter.render() renders from now on
        self._rendered = True

    def close(self):
        if getattr(self, "_closed", False):
            return
        BasePlotter.close(self)
        self.interactor.Finalize()


def make_plotter(parent, opengl_widget=None):
    """The 3D view's plotter: NativePlotter, or pyvistaqt's QtInteractor (`opengl_widget`)."""
    if OPENGL_WIDGET if opengl_widget is None else opengl_widget:
        from pyvistaqt import QtInteractor

        return QtInteractor(parent, auto_update=False, multi_samples=MULTI_SAMPLES)
    return NativePlotter(parent)


def typing() -> bool:
    """Whether the user is typing in a text field, or in a number box (a key typed and no Enter yet: after Enter the
    number is in, and R over the view frames the shape, as a walkthrough expected)."""
    from PyQt5.QtWidgets import QAbstractSpinBox, QLineEdit, QPlainTextEdit, QTextEdit

    focus = QApplication.focusWidget()
    box = focus if isinstance(focus, QAbstractSpinBox) else focus.parent() if isinstance(
        focus, QLineEdit) and isinstance(focus.parent(), QAbstractSpinBox) else None
    if box is not None:
        return box.lineEdit().isModified()
    return isinstance(focus, (QLineEdit, QTextEdit, QPlainTextEdit))


def under_pointer(widget) -> bool:
    """Whether the pointer is over `widget` (or a widget inside it), with nothing covering it there."""
    under = QApplication.widgetAt(QCursor.pos())
    return under is not None and (under is widget or widget.isAncestorOf(under))


def focus_under_pointer(widget):
    """Blender's habit: keys go to the view under the pointer, so a view takes the keyboard focus when the
    pointer enters it, unless the user is typing (typing)."""
    if not typing() and widget.isVisible() and widget.isActiveWindow():
        widget.setFocus(Qt.MouseFocusReason)


def focus_if_under_pointer(widget):
    """focus_under_pointer, if the pointer is over `widget` and nothing covers it there."""
    if not sip.isdeleted(widget) and under_pointer(widget):
        focus_under_pointer(widget)


class FocusUnderPointer(QObject):
    """A view takes the keys when the pointer enters it, or when its window is active again with the pointer
    still over it (a dialog closed over the view, or the user came back from another application: no Enter
    comes then, and the keys had gone to the button that opened the dialog until the pointer left and came
    back). `on_focus` is called when the view gains or loses the keys (its frame shows whether it has them)."""

    def __init__(self, parent, on_focus=None):
        super().__init__(parent)
        self.on_focus = on_focus

    def eventFilter(self, obj, event):
        if event.type() == QEvent.Enter:
            focus_under_pointer(obj)
        elif event.type() == QEvent.WindowActivate:
            # after the window's own focus is restored (Qt gives it back to the widget that last had it)
            QTimer.singleShot(0, lambda: focus_if_under_pointer(obj))
        elif event.type() in (QEvent.FocusIn, QEvent.FocusOut) and self.on_focus is not None:
            self.on_focus()
        return False


class ShapeView(QWidget):
    """A 3D view showing one grid as a surface (+ control grid); knows nothing of models."""

    rendered = pyqtSignal()

    def __init__(self, parent=None):
        super().__init__(parent)
        # A native window of its own: otherwise every repaint of any widget in the window is
        # composited through OpenGL with the 3D view (slow under software OpenGL).
        self.setAttribute(Qt.WA_NativeWindow)
        # the camera's own last fit (_remember_fit): its zoom state, what a resize redoes and from where; and the
        # templates' size (reset_camera(home=True)), against which a shape is a collapsed speck (_shrunk)
        self._fitted = self._again = self._again_at = self._home_size = None
        self.plotter = make_plotter(self)
        self._deferred = hasattr(self.plotter, "frameSwapped")  # a QOpenGLWidget: draws in its paintGL
        if self._deferred:
            self.plotter.frameSwapped.connect(self.rendered)
        self._smooth_timer = QTimer(self, singleShot=True, interval=SMOOTH_AFTER_MS, timeout=self.render_smooth)
        self._smoothing = False
        if not self._deferred and not FXAA:  # every frame, the app's or a turn of the camera, restarts it
            self.plotter.ren_win.AddObserver("EndEvent", self._frame_drawn)
        if FXAA:
            self.plotter.enable_anti_aliasing("fxaa")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plotter.interactor)
        # the focus frame: four strips over the view's edges, windows of their own (so they lie over VTK's, and
        # the view and what it renders keep their size; its frames and screenshots do not show them)
        self._focus_edges = []
        for _ in range(4):
            edge = QWidget(self)
            edge.setAttribute(Qt.WA_NativeWindow)
            edge.setAutoFillBackground(True)
            palette = edge.palette()
            palette.setColor(QPalette.Window, QColor(FOCUS))
            edge.setPalette(palette)
            edge.hide()
            self._focus_edges.append(edge)
        self._focus_filter = FocusUnderPointer(self, self.show_focus)
        self.plotter.interactor.installEventFilter(self._focus_filter)  # keys go to the view under the pointer
        self.background = BACKGROUND
        self.plotter.set_background(self.background[0], top=self.background[1])
        light(self.plotter.renderer)
        self.builder: MeshBuilder | None = None
        self.surface = self.grid_mesh = self.selected_mesh = None
        self.options = dict(subdivide=2, petals=1, thickness=0.0, flip=False)  # (flip: a model's flip_normals)
        self.show_grid = False
        self.on_reset_key = None  # R in the view: what frames the shape again (the window sets it)
        self.on_frame_key = None  # numpad . (or .): what frames the selection (the window sets it)
        self.on_escape = None  # Esc in the view: cancels a drag under way (enable_point_dragging sets it)
        self._picking = []  # (target, active, drag) of each enable_point_dragging (Sketch; Explore's Rewrite)
        self._overlay = None  # a renderer drawn over the scene: the grabbed and hovered points, the falloff radius
        self._only_our_keys()
        self._pending = None  # the latest requested grid function, drawn on the next event-loop turn
        self._follow = False  # whether the camera follows that draw when the shape leaves the view
        self._posted = False  # a DRAW_EVENT is on its way
        self.last_grid = None
        self._broken_request = None  # (quads, surface size) of the red faces
        self._view_from = VIEW_FROM  # the direction reset_camera last looked from
        self._orient = None  # (reset_camera's arguments, its camera): the next grid drawn is seen from its front

    def show_focus(self):
        """A frame around the view while keys go to it (Tab, or the pointer over it), as the 2D views' border and
        other widgets show the focus."""
        w, h, d = self.width(), self.height(), FOCUS_FRAME
        focused = self.plotter.interactor.hasFocus()
        for edge, (x, y, width, height) in zip(self._focus_edges, ((0, 0, w, d), (0, h - d, w, d), (0, 0, d, h),
                                                                   (w - d, 0, d, h))):
            edge.setGeometry(x, y, width, height)
            edge.setVisible(focused)
            edge.raise_()

    def _only_our_keys(self):
        """Swallow every key event before VTK's interactor style or pyvista's key callbacks see it;
        R frames the shape again (KEYS_3D)."""
        iren = self.plotter.iren.interactor
        tags = {}

        def key(obj, event):
            if event == "CharEvent" and iren.GetKeySym() in ("r", "R") and self.on_reset_key is not None:
                self.on_reset_key()
                self.render()
            # (VTK's Qt widget gives numpad . and . the same keysym)
            if event == "CharEvent" and iren.GetKeySym() in ("period", "KP_Decimal") and self.on_frame_key is not None:
                self.on_frame_key()
                self.render()
            if event == "KeyPressEvent" and iren.GetKeySym() == "Escape" and self.on_escape is not None:
                self.on_escape()
            iren.GetCommand(tags[event]).SetAbortFlag(1)

        for event in ("CharEvent", "KeyPressEvent", "KeyReleaseEvent"):
            tags[event] = iren.AddObserver(event, key, 1000.0)

    # -- coalesced updates ----------------------------------------------------------------------
    def request(self, grid_fn, follow=False):
        """Draw `grid_fn()` on the next turn of the event loop; a later request before then replaces this one.
        `follow`: the camera re-fits (keeping its direction) if the shape drawn leaves the view (fit_if_outside).

        The draw is a high-priority posted event: it runs before the repaints the same move queued
        (slider, spin box, context pad), so the 3D pixels come first, and one draw serves every
        request made before it runs (moves faster than frames coalesce to the latest).
        """
        self._pending, self._follow = grid_fn, follow
        if not self._posted:
            self._posted = True
            QCoreApplication.postEvent(self, QEvent(DRAW_EVENT), Qt.HighEventPriority)

    def event(self, event):
        if event.type() == DRAW_EVENT:
            self._posted = False
            self._draw_pending()
            return True
        return super().event(event)

    def _draw_pending(self):
        fn, self._pending = self._pending, None
        if fn is not None:
            grid = fn()
            if grid is not None:
                self.update_grid(grid)
                if not (self._follow and self.fit_if_outside()):  # (a re-fit renders)
                    self.render()

    def flush(self):
        """Draw a pending request now (tests, screenshots)."""
        if self._pending is not None:
            self._draw_pending()  # the posted event, when it comes, finds nothing to draw

    # -- the scene ---------------------------------------------------------------------------------
    def set_options(self, subdivide=None, petals=None, thickness=None, show_grid=None, flip=None):
        """How the grid is drawn; `flip`: the surface faces the other way (GRCModel.flip_normals, as exports)."""
        for key, value in dict(subdivide=subdivide, petals=petals, thickness=thickness, flip=flip).items():
            if value is not None:
                self.options[key] = value
        if show_grid is not None:
            self.show_grid = show_grid
        self.builder = None  # rebuilt (and actors re-made) on the next grid
        if self.last_grid is not None:
            self.update_grid(self.last_grid)
            self.render()

    def update_grid(self, grid, selected=None, selection=None):
        """Show a grid: the points of the existing actors change; actors are made only when sizes change.
        `selected`: the active point (large, drawn over the surface); `selection`: the selected points (n, 3)."""
        grid = np.asarray(grid, float)
        self.last_grid = grid
        rows, points = grid.shape[:2]
        remade = self.builder is None or self.builder.shape != grid.shape
        if remade:
            if self.builder is not None and tuple(self.builder.shape[:2]) != (rows, points):
                self._broken_request = None  # another grid (another model): its broken quads are not this one's
            self.builder = MeshBuilder(rows, points, **self.options)
            self._make_actors(rows, points)
        mesh = self.builder.build(grid)
        (points, normals, grid_points), arrays = self._arrays
        points[:] = mesh.vertices  # straight into VTK's arrays (pyvista's wrappers cost more than the copy)
        normals[:] = mesh.vertex_normals
        grid_points[:] = grid.reshape(-1, 3)
        for array in arrays:
            array.Modified()
        self.surface.Modified()
        self.grid_mesh.Modified()
        self._update_selected(selected)
        self._update_selection(selection, selected)
        self._update_pick_marks(grid)
        self._overlay.SetDraw(any(a.GetVisibility() for a in (self.selected_actor, self.hover_actor, self.radius_actor)))
        if remade and self._broken_request is not None:
            self._apply_broken()  # the same quads on the new faces (a new subdivision, petals, thickness)
        if self._orient is not None:
            self._face_front()
        return mesh

    def _front(self) -> tuple:
        """The direction that shows the surface drawn now from its front: its first petal's first side decides."""
        if self.surface is None or self.builder is None:
            return VIEW_FROM
        return front_view(self._arrays[0][1][:self.builder.operator.shape[0]])

    def _face_front(self):
        """The first grid drawn since reset_camera: a camera still where reset_camera put it, looking at the back
        of this grid (reset_camera judged by the shape shown before it, or none: a set opening), looks from its
        front instead."""
        (bounds, points, edge), placed = self._orient
        self._orient = None
        if self._camera is not None:  # (actors just made: the camera they kept, as render would put it back)
            self.plotter.camera_position, self._camera = self._camera, None
        if np.allclose(self._camera_state(), placed, rtol=1e-6, atol=1e-9) and self._front() != self._view_from:
            self._place(bounds, points, edge, self._front())

    def _make_actors(self, rows, points):
        p = self.plotter
        camera = p.camera_position if self.surface is not None else None
        p.clear_actors()
        empty = self.builder.build(np.zeros((rows, points, 3)))
        self.surface = polydata(empty.vertices, empty.faces)
        self.surface.point_data["Normals"] = np.zeros_like(empty.vertices)
        self.surface.point_data.active_normals_name = "Normals"
        self.surface_actor = p.add_mesh(self.surface, color=SURFACE, smooth_shading=False, specular=0.3,
                                        specular_power=20, name="surface", reset_camera=False)
        self.surface_actor.prop.interpolation = "gouraud"
        self.grid_mesh = pv.PolyData(np.zeros((rows * points, 3)), lines=grid_lines(rows, points))
        self.grid_actor = p.add_mesh(self.grid_mesh, color=GRID, line_width=2, render_lines_as_tubes=False,
                                     name="grid", reset_camera=False)
        self.grid_points_actor = p.add_points(self.grid_mesh, color=GRID, point_size=8,
                                              render_points_as_spheres=True, name="grid-points", reset_camera=False)
        arrays = (self.surface.GetPoints().GetData(), self.surface.GetPointData().GetArray("Normals"),
                  self.grid_mesh.GetPoints().GetData())
        self._arrays = [vtk_to_numpy(a) for a in arrays], arrays
        self.selected_mesh = pv.PolyData(np.zeros((1, 3)))
        self._selected_xyz = vtk_to_numpy(self.selected_mesh.GetPoints().GetData())  # (a drag moves it every frame)
        self.selected_actor = p.add_points(self.selected_mesh, color=SELECTED, point_size=16,
                                           render_points_as_spheres=True, name="selected", reset_camera=False)
        for actor in (self.grid_actor, self.grid_points_actor):
            actor.SetVisibility(self.show_grid)
        self.selected_actor.SetVisibility(False)
        self.selection_mesh = pv.PolyData(np.zeros((1, 3)))  # the selection (a box select, A), as the 2D views show
        self.selection_actor = p.add_points(self.selection_mesh, color=SELECTED, point_size=11,
                                            render_points_as_spheres=True, name="selection", reset_camera=False)
        self.selection_actor.SetVisibility(False)
        # broken faces: the surface's own points, a subset of its faces, drawn red just in front of it
        self.broken_mesh = pv.PolyData()
        self.broken_mesh.SetPoints(self.surface.GetPoints())
        self.broken_actor = p.add_mesh(self.broken_mesh, color=BROKEN, name="broken", reset_camera=False,
                                       smooth_shading=False)
        self.broken_actor.prop.lighting = False  # flat, bright red: seen even in the shade of a fold
        # outlined thick: a broken quad may be a sliver a pixel wide on screen, yet it shows
        self.broken_actor.prop.show_edges = True
        self.broken_actor.prop.edge_color = BROKEN
        self.broken_actor.prop.line_width = BROKEN_OUTLINE
        mapper = self.broken_actor.GetMapper()
        mapper.SetResolveCoincidentTopologyToPolygonOffset()
        mapper.SetRelativeCoincidentTopologyPolygonOffsetParameters(-2, -2)
        self.broken_actor.SetVisibility(False)
        self.broken_faces = np.zeros(0, int)
        self.broken_label = None  # the "broken" tag drawn over everything (_apply_broken)
        self.region_mesh = pv.PolyData(np.zeros((1, 3)))
        self.region_actor = p.add_points(self.region_mesh, color=REGION, point_size=12,
                                         render_points_as_spheres=True, name="region", reset_camera=False)
        self.region_actor.SetVisibility(False)
        self._make_pick_actors()
        self._camera = camera

    def _update_selected(self, selected):
        if selected is None:
            self.selected_actor.SetVisibility(False)
        else:
            self._selected_xyz[:] = np.asarray(selected, float).reshape(-1, 3)[:1]
            self.selected_mesh.GetPoints().Modified()
            self.selected_mesh.Modified()
            self.selected_actor.SetVisibility(True)

    def _update_selection(self, selection, selected=None):
        points = None if selection is None else np.asarray(selection, float).reshape(-1, 3)
        # the selection is the selected point alone: its larger mark, drawn over the scene, hides this one
        # entirely, so it is not drawn (each actor drawn costs a frame ~1 ms under software OpenGL), nor moved
        alone = (points is not None and selected is not None and len(points) == 1
                 and np.array_equal(points[0], np.ravel(selected)))
        if points is None or len(points) == 0 or alone:
            self.selection_actor.SetVisibility(False)
            return
        if self.selection_mesh.n_points == len(points):
            self.selection_mesh.points[:] = points
            self.selection_mesh.Modified()
        else:
            self.selection_mesh.ShallowCopy(pv.PolyData(points))
        self.selection_actor.SetVisibility(True)

    # -- Beyond the templates: broken faces, a cluster's region, re-fitting ----------------------------
    def broken_face_indices(self, quads, surface_size) -> np.ndarray:
        """The view's faces of the quads `quads` (row-major) of a sheet subdivided to `surface_size`
        (Coherence.check's, subdivision 2): mapped to this view's subdivision, every petal, both sides."""
        if self.builder is None or quads is None or len(quads) == 0:
            return np.zeros(0, int)
        R2, P2 = surface_size
        rows, points = self.builder.shape[:2]
        level = self.options["subdivide"]
        Rs, Ps = (rows - 1) * 2 ** level, (points - 1) * 2 ** level  # the view's quads per side
        def nested(a, b):  # one sheet's quads split evenly into the other's
            return a % b == 0 or b % a == 0

        if not (nested(R2 - 1, Rs) and nested(P2 - 1, Ps)) or (R2 - 1) * Ps != (P2 - 1) * Rs \
                or max(quads) >= (R2 - 1) * (P2 - 1):
            return np.zeros(0, int)  # a check of another grid (a model just replaced): nothing of it is here
        broken = np.zeros((R2 - 1) * (P2 - 1), bool)
        broken[np.asarray(quads, int)] = True
        broken = broken.reshape(R2 - 1, P2 - 1)
        d = (R2 - 1) / Rs  # quads of the check's sheet per quad of the view's, per side (a power of two)
        if d >= 1:
            d = int(round(d))
            mine = broken.reshape(Rs, d, Ps, d).any(axis=(1, 3))
        else:
            k = int(round(1 / d))
            mine = np.repeat(np.repeat(broken, k, axis=0), k, axis=1)
        sheet = np.flatnonzero(mine.ravel())
        per_sheet = Rs * Ps
        count = self.builder.flower.count
        per_petal = len(self.builder.faces) // count
        sides = [sheet] if self.builder.thickness <= 0 else [sheet, sheet + per_sheet]
        return np.concatenate([s + k * per_petal for k in range(count) for s in sides])

    def show_broken(self, quads, surface_size=None):
        """Draw the faces of the broken quads red (None or empty: none)."""
        self._broken_request = (quads, surface_size)
        if self.surface is not None:
            before = self.broken_faces
            self._apply_broken()
            if len(before) or len(self.broken_faces):  # nothing red before or now: no frame to draw
                self.render()

    def _apply_broken(self):
        quads, surface_size = self._broken_request
        faces = self.broken_face_indices(quads, surface_size) if quads is not None else np.zeros(0, int)
        self.broken_faces = faces
        if len(faces):
            chosen = np.asarray(self.builder.faces)[faces]
            self.broken_mesh.faces = np.hstack([np.full((len(chosen), 1), chosen.shape[1]), chosen]).ravel()
            self.broken_mesh.SetPoints(self.surface.GetPoints())
            # a tag on top of everything at the broken face nearest their middle: where it breaks shows even when
            # the faces are a sliver, or behind the surface
            centres = np.asarray(self.surface.points)[chosen].mean(axis=1)
            at = centres[np.argmin(np.linalg.norm(centres - centres.mean(axis=0), axis=1))]
            self.broken_label = self.plotter.add_point_labels(
                at[None], ["broken"], always_visible=True, show_points=False, shape="rounded_rect",
                shape_color=BROKEN, text_color="white", font_size=11, margin=2, name="broken-label",
                reset_camera=False, render=False)
        else:
            self.hide_broken_tag()
        self.broken_actor.SetVisibility(bool(len(faces)))

    def hide_broken_tag(self):
        """The shape moves on: the broken tag, pinned where the last check put it, goes until the next check."""
        if getattr(self, "broken_label", None) is not None:  # (none before the first shape's actors are made)
            self.plotter.remove_actor(self.broken_label, render=False)
            self.broken_label = None

    def show_region(self, points):
        """Highlight grid points (K, 3) of the shape (a bend cluster's region); None hides them."""
        if self.surface is None:
            return
        if points is None or len(points) == 0:
            self.region_actor.SetVisibility(False)
        else:
            self.region_mesh.ShallowCopy(pv.PolyData(np.asarray(points, float).reshape(-1, 3)))  # points and their cells
            self.region_actor.SetVisibility(True)
        self.render()

    def drawn_points(self) -> np.ndarray:
        """What the camera keeps in view: the surface's vertices, and the control grid's points while it is shown
        (the grid is the hull of the subdivided surface: a bend can carry its corners well past it, off the view)."""
        surface = self._arrays[0][0]
        if self.grid_actor.GetVisibility():
            return np.concatenate([surface, self._arrays[0][2]])
        return surface

    def outside_view(self, points=None, edge=FIT_MARGIN) -> bool:
        """Whether a point drawn (drawn_points), or one of `points` (n, 3), lies outside the camera's view (beyond
        `edge` of it, in normalised device units: 1 is the view's edge)."""
        if self.surface is None and points is None:
            return False
        ndc, w = self.view_coordinates(points)
        return bool((np.abs(ndc) > edge).any() or (w <= 0).any())

    def view_coordinates(self, points=None) -> tuple[np.ndarray, np.ndarray]:
        """Where the points drawn (drawn_points), or `points` (n, 3), lie in the view: normalised device coordinates
        (n, 2), -1 to 1 across the view, and their w (> 0 in front of the camera)."""
        renderer = self.plotter.renderer
        width, height = renderer.GetSize()
        aspect = width / max(height, 1)
        matrix = renderer.GetActiveCamera().GetCompositeProjectionTransformMatrix(aspect, -1, 1)
        m = np.array([[matrix.GetElement(i, j) for j in range(4)] for i in range(4)])
        v = self.drawn_points() if points is None else np.asarray(points, float).reshape(-1, 3)
        clip = v @ m[:3, :3].T + m[:3, 3]
        w = v @ m[3, :3] + m[3, 3]
        return clip[:, :2] / np.where(np.abs(w) < 1e-12, 1e-12, w)[:, None], w

    def fit_if_outside(self, bounds=None) -> bool:
        """Re-fit the camera (keeping its direction) when the shape has left the view, or has shrunk to a small
        part of a view the camera fitted by itself (not zoomed or panned since: a user's zoom stays); True if it
        did."""
        if not (self.outside_view() or self._shrunk()):
            return False
        v = self.drawn_points()
        lo, hi = v.min(axis=0), v.max(axis=0)
        if bounds is not None:
            lo, hi = np.minimum(lo, bounds[::2]), np.maximum(hi, bounds[1::2])
        self._fit(lo, hi)
        self.render()
        return True

    def _zoom_state(self):
        camera = self.plotter.camera
        return np.r_[camera.focal_point, np.linalg.norm(np.subtract(camera.position, camera.focal_point)),
                     camera.view_angle, camera.parallel_scale]

    def _remember_fit(self, again=None):
        """The camera has just fitted the shape by itself: a later shrink may re-fit it inwards (_shrunk), and a
        resize of the view redoes `again` (the same framing for the new shape of the view) until the user moves
        the camera's zoom or focus."""
        self._fitted = self._zoom_state()
        self._again, self._again_at = again, self._camera_state()

    def resizeEvent(self, event):
        super().resizeEvent(event)
        self.show_focus()  # (the frame's strips along the new edges)
        if self._again is not None and self.surface is not None:
            QTimer.singleShot(0, self._reframe)  # once the interactor has its new size

    def _reframe(self):
        """The view was resized: a framing the camera made by itself is made again for the view's new aspect (the
        leaf, framed before the window took its size, touched the view's edge until R)."""
        again = self._again  # (orbiting since counts too: the framing would turn the view back)
        if again is None or not np.allclose(self._camera_state(), self._again_at, rtol=1e-6, atol=1e-9):
            return
        again()
        self.render()

    def _camera_state(self):
        camera = self.plotter.camera
        return np.r_[camera.position, camera.focal_point, camera.up, camera.view_angle, camera.parallel_scale]

    def _shrunk(self) -> bool:
        """Whether the shape fills under SHRUNK_EDGE of the view while the camera's zoom and focus are still where
        its own last fit put them (orbiting keeps both; the user's zoom or pan does not)."""
        fitted = self._fitted
        if self.surface is None or fitted is None or not np.allclose(self._zoom_state(), fitted, rtol=1e-6,
                                                                     atol=1e-9):
            return False
        ndc, w = self.view_coordinates()
        extent = (ndc.max(axis=0) - ndc.min(axis=0)).max() / 2  # its size on screen, wherever it sits (off-centre too)
        # (a shape collapsed to a speck, a hundredth of the view, is not zoomed into: the camera would sit on it; but
        # one that is small on screen only because the view followed a huge one out, a Blend models preview
        # cancelled, is no speck unless it is also under a thirtieth of the templates' size)
        speck = extent <= SHRUNK_EDGE / 30
        home = self._home_size
        if speck and home:
            v = self.drawn_points()
            speck = float(np.linalg.norm(v.max(axis=0) - v.min(axis=0))) < home / 30
        return bool((w > 0).all() and not speck and extent < SHRUNK_EDGE)

    def frame_shape(self, view_from=None):
        """R, as Blender's Home: the three-quarter view again, with the shape drawn now in its middle, filling it
        but for a little margin (FRAME_EDGE). `view_from`: as reset_camera's."""
        self.flush()  # (a draw still pending: what R frames is what shows next)
        if self.surface is None:
            return self.reset_camera(view_from=view_from)
        v = self.drawn_points()
        lo, hi = v.min(axis=0), v.max(axis=0)
        # its box's middle: near the middle on screen
        self.reset_camera([lo[0], hi[0], lo[1], hi[1], lo[2], hi[2]], view_from=view_from)
        camera = self.plotter.camera
        width, height = self.plotter.renderer.GetSize()
        for _ in range(4):  # the extent on screen moved to the middle, then zoomed to the margin (perspective: rounds)
            ndc, _ = self.view_coordinates(v)
            position, focus = np.array(camera.position), np.array(camera.focal_point)
            forward = (focus - position) / np.linalg.norm(focus - position)
            right = np.cross(forward, camera.up)
            right /= np.linalg.norm(right)
            up = np.cross(right, forward)
            half = np.linalg.norm(focus - position) * np.tan(np.radians(camera.view_angle) / 2)  # half the height there
            shift = (ndc.min(axis=0) + ndc.max(axis=0)) / 2 * half * np.array([width / max(height, 1), 1.0])
            move = shift[0] * right + shift[1] * up
            camera.position, camera.focal_point = tuple(position + move), tuple(focus + move)
            extent = np.abs(self.view_coordinates(v)[0]).max()
            if not np.isfinite(extent) or extent < 1e-9:  # a shape that is one point on screen: nothing to zoom to
                break
            camera.zoom(FRAME_EDGE / extent)
        for _ in range(10):
            if not self.outside_view(v, FRAME_EDGE):
                break
            camera.zoom(0.97)
        self.plotter.renderer.ResetCameraClippingRange()
        side = self._view_from
        self._remember_fit(lambda: self.frame_shape(side))

    def fit_points(self, points=None):
        """Fit the camera around `points` (n, 3; default the surface), keeping its direction (numpad .); a
        single point gets a tenth of the surface's size around it."""
        if self.surface is None:
            return
        surface = self.drawn_points()
        v = surface if points is None or len(points) == 0 else np.asarray(points, float).reshape(-1, 3)
        lo, hi = v.min(axis=0), v.max(axis=0)
        least = 0.1 * float((surface.max(axis=0) - surface.min(axis=0)).max())
        grow = np.maximum(least - (hi - lo), 0) / 2
        self._fit(lo - grow, hi + grow, v)

    def _fit_current(self):
        """The automatic re-fit (fit_if_outside's) again, around the shape as it is now (a resize after Play)."""
        v = self.drawn_points()
        self._fit(v.min(axis=0), v.max(axis=0))

    def _fit(self, lo, hi, points=None):
        self.plotter.renderer.ResetCamera(lo[0], hi[0], lo[1], hi[1], lo[2], hi[2])
        self.plotter.camera.zoom(1.3)  # the bounding sphere is loose: closer, then back out until it all shows
        for _ in range(8):  # (within R's margin: a grid point's dot on the view's very edge was cut in half)
            if not self.outside_view(points, FRAME_EDGE):
                break
            self.plotter.camera.zoom(0.9)
        self._remember_fit(self._fit_current)

    def reset_camera(self, bounds=None, points=None, edge=FIT_MARGIN, home=False, view_from=None):
        """A three-quarter view from the front and above, fitting `bounds` (xmin, xmax, ymin, ymax, zmin, zmax);
        then backing out until every one of `points` (n, 3) shows within `edge` of the view (a flat, wide sheet
        filled more than the view). "The front" is the side the surface faces (front_view): the shape drawn now,
        and the next grid drawn, in case that is another (a set just opened is drawn after it is framed).
        `home`: `bounds` are the templates' (the app's framing), the size a shape far smaller than is a speck.
        `view_from`: the direction to look from instead of the front (a resize framing again keeps the side the
        camera looked from: judged again, a bent sprout's view swung round to its side)."""
        if home:
            self._home_size = None if bounds is None else float(np.linalg.norm(np.subtract(bounds[1::2], bounds[::2])))
        self._place(bounds, points, edge, self._front() if view_from is None else view_from)
        if view_from is None:
            self._orient = ((bounds, points, edge), self._camera_state())
        elif self._orient is not None:  # (a framing from the front still waits for its first grid: it still does)
            self._orient = (self._orient[0], self._camera_state())

    def _place(self, bounds, points, edge, view_from):
        self._view_from = view_from
        self.plotter.view_vector(view_from, viewup=(0, 0, 1))
        if bounds is not None:
            self.plotter.renderer.ResetCamera(*bounds)
            self.plotter.camera.zoom(1.4)  # the bounding sphere is loose around a petal
            for _ in range(12):
                if points is None or not self.outside_view(points, edge):
                    break
                self.plotter.camera.zoom(0.9)
        else:
            self.plotter.reset_camera()
        self._remember_fit(lambda: self.reset_camera(bounds, points, edge, view_from=view_from))

    def render(self, now=False):
        """Draw the scene once; `rendered` fires when its pixels are in the window.

        The native view renders at once (VTK swaps into the widget's window). With the
        QOpenGLWidget fallback this asks for a repaint, drawn in its paintGL, unless `now`.
        """
        if self.surface is not None and getattr(self, "_camera", None) is not None:
            self.plotter.camera_position, self._camera = self._camera, None
        if now or not self._deferred:
            self.plotter.render()
            if not self._deferred:
                self.rendered.emit()
        else:
            self.plotter.update()

    def _frame_drawn(self, *_):
        if not self._smoothing:
            self._smooth_timer.start()  # (again): smooth this frame once the view stands still

    def render_smooth(self):
        """Draw the frame again with smoothed edges (FXAA); the next frame is drawn sharp and fast again."""
        if self._deferred or FXAA or getattr(self.plotter, "_closed", False):
            return
        renderer = self.plotter.renderer
        self._smoothing = True
        renderer.UseFXAAOn()
        try:
            self.plotter.render()
        finally:
            renderer.UseFXAAOff()
            self._smoothing = False

    def vertices(self) -> np.ndarray:
        """The surface's vertices as drawn (for tests)."""
        return np.array(self.surface.points)

    def close_plotter(self):
        self._smooth_timer.stop()
        self._again = None  # (a resize's re-framing still queued finds nothing to do)
        self.plotter.close()

    # -- picking and dragging grid points in 3D (Sketch) ------------------------------------------------
    def display_points(self, grid) -> np.ndarray:
        """Where grid points are drawn: (P, 3) display x, y (device pixels from the bottom left, as VTK's
        event positions) and depth (0 at the near plane, 1 at the far one: smaller is nearer the viewer)."""
        renderer = self.plotter.renderer
        width, height = renderer.GetSize()
        x0, y0 = renderer.GetOrigin()
        aspect = renderer.GetTiledAspectRatio()
        matrix = renderer.GetActiveCamera().GetCompositeProjectionTransformMatrix(aspect, 0, 1)
        m = np.array([[matrix.GetElement(i, j) for j in range(4)] for i in range(4)])
        v = np.asarray(grid, float).reshape(-1, 3)
        clip = v @ m[:, :3].T + m[:, 3]  # (P, 4)
        w = np.where(np.abs(clip[:, 3]) < 1e-12, 1e-12, clip[:, 3])
        view = clip[:, :3] / w[:, None]
        return np.stack([x0 + (view[:, 0] + 1) * width / 2, y0 + (view[:, 1] + 1) * height / 2, view[:, 2]], axis=1)

    def display_to_world(self, x, y, depth) -> np.ndarray:
        """The world point drawn at display (x, y) and `depth` (display_points' units)."""
        renderer = self.plotter.renderer
        renderer.SetDisplayPoint(x, y, depth)
        renderer.DisplayToWorld()
        w = np.array(renderer.GetWorldPoint())
        return w[:3] / w[3]

    def pick_point(self, grid, x, y):
        """The grid point (row, point) under display (x, y) nearest the viewer, or None (gui.sketch.GridView2D.nearest).

        Points within PICK_HIT px all count as under the cursor (mirror partners, points behind one
        another); of those the nearest the viewer wins; else the nearest within PICK_PX px.
        """
        screen = self.display_points(grid)
        d = np.hypot(screen[:, 0] - x, screen[:, 1] - y)
        ratio = self.devicePixelRatioF()
        in_front = (screen[:, 2] >= 0) & (screen[:, 2] <= 1)  # between the near and far planes
        under = np.flatnonzero((d <= PICK_HIT * ratio) & in_front)
        if len(under):
            i = int(under[np.argmin(screen[under, 2])])
        else:
            d = np.where(in_front, d, np.inf)
            i = int(np.argmin(d))
            if not d[i] <= PICK_PX * ratio:
                return None
        return divmod(i, np.asarray(grid).shape[1])

    def _update_pick_marks(self, grid):
        """The hovered point's ring and the proportional-editing radius around what is grabbed (or hovered)."""
        picking = [p for p in self._picking if hasattr(p[0], "hover") and p[1]()]
        if self.surface is None:
            return
        self._overlay.SetActiveCamera(self.plotter.renderer.GetActiveCamera())
        if not picking:
            self.hover_actor.SetVisibility(False)
            self.radius_actor.SetVisibility(False)
            return
        sketch, active, drag = picking[0]
        show = grid is not None
        M, N = np.asarray(grid).shape[:2] if grid is not None else (0, 0)

        def valid(p):
            return p is not None and p[0] < M and p[1] < N

        dragging = bool(drag) or getattr(sketch, "dragging", False)  # here or in a 2D view
        hover = sketch.hover if show and not dragging and valid(sketch.hover) else None
        self.hover_actor.SetVisibility(hover is not None)
        if hover is not None:
            self.hover_mesh.points[:] = np.asarray(grid, float)[hover][None]
            self.hover_mesh.Modified()
        around = sketch.selected if dragging else hover
        if show and sketch.proportional and valid(around):
            self.radius_actor.SetCamera(self.plotter.renderer.GetActiveCamera())
            self.radius_actor.SetPosition(*np.asarray(grid, float)[around])
            self.radius_actor.SetScale(sketch.radius)
            self.radius_actor.SetVisibility(True)
        else:
            self.radius_actor.SetVisibility(False)

    def _make_pick_actors(self):
        """The hover ring (a larger see-through point) and the falloff radius (a circle that faces the camera),
        with the grabbed point moved onto a layer drawn over the scene: seen even where the surface hides them."""
        p = self.plotter
        if self._overlay is None:
            self._overlay = vtkRenderer()
            self._overlay.SetLayer(1)
            self._overlay.InteractiveOff()
            p.ren_win.SetNumberOfLayers(max(2, p.ren_win.GetNumberOfLayers()))
            p.ren_win.AddRenderer(self._overlay)
        self._overlay.RemoveAllViewProps()
        self._overlay.SetActiveCamera(p.renderer.GetActiveCamera())
        self._overlay.SetDraw(False)  # (nothing to draw over the scene: no pass at all)
        self.hover_mesh = pv.PolyData(np.zeros((1, 3)))
        self.hover_actor = p.add_points(self.hover_mesh, color=HOVER, point_size=20, render_points_as_spheres=True,
                                        opacity=0.55, name="hover", reset_camera=False)
        self.hover_actor.SetVisibility(False)
        angle = np.linspace(0, 2 * np.pi, 73)[:-1]
        circle = pv.PolyData(np.stack([np.cos(angle), np.sin(angle), np.zeros_like(angle)], axis=1))
        circle.lines = np.r_[len(angle) + 1, np.arange(len(angle)), 0]
        mapper = vtkPolyDataMapper()
        mapper.SetInputData(circle)
        self.radius_actor = vtkFollower()  # turns to face the camera, wherever it is
        self.radius_actor.SetMapper(mapper)
        self.radius_actor.GetProperty().SetColor(0.45, 0.45, 0.45)
        self.radius_actor.GetProperty().SetLineWidth(1.5)
        self.radius_actor.GetProperty().SetLighting(False)
        self.radius_actor.PickableOff()
        self.radius_actor.SetVisibility(False)
        for actor in (self.selected_actor, self.hover_actor, self.radius_actor):
            p.renderer.RemoveActor(actor)
            self._overlay.AddActor(actor)

    def enable_point_dragging(self, sketch, active):
        """While `active()`, the 3D view picks and drags the grid points of `sketch.grid()` as the 2D views do.

        A left press on a grid point (the one under the cursor nearest the viewer, PICK_HIT / PICK_PX)
        grabs it; the drag moves it by the cursor's motion in the plane through the point facing the
        camera (the grab offset is kept: no jump) through `sketch.drag_to`, begin_drag / end_drag making
        it one undo step. A press away from every point turns the camera as usual.
        With gui.sketch.SketchState (Sketch) also: shift- or ctrl-click toggles a point in the selection,
        a drag moves the selection with its falloff and mirror, the point under the cursor is ringed
        (sketch.hover), the wheel sizes the falloff radius while dragging and Esc puts the points back.
        `sketch` needs grid, set, begin_drag, drag_to and end_drag (gui.rewrite.RewriteDrag has just those).
        """
        iren = self.plotter.iren.interactor
        drag = {}
        self._picking.append((sketch, active, drag))
        editing = hasattr(sketch, "select")  # SketchState: selection, hover, falloff, cancel

        def swallow(tag):
            iren.GetCommand(tag).SetAbortFlag(1)

        def set_hover(hit):
            if hit != sketch.hover:
                sketch.hover = hit
                sketch.changed.emit()  # the 2D views ring it too; the 3D view redraws with its ring

        def press(obj, event):
            if not active():  # (before grid(): a rewrite's grid() says in the status bar why nothing can be dragged)
                return
            grid = sketch.grid()
            if grid is None:
                return
            x, y = iren.GetEventPosition()
            hit = self.pick_point(grid, x, y)
            if hit is None:
                return
            swallow(tags["press"])
            if not editing:
                sketch.set(selected=hit)
            elif not sketch.press_point(hit, toggle=bool(iren.GetShiftKey() or iren.GetControlKey())):
                return
            depth = self.display_points(grid[hit][None])[0, 2]
            drag.update(point=hit, depth=depth, start=self.display_to_world(x, y, depth), grabbed=grid[hit].copy())
            if editing:
                sketch.hover = None
            sketch.begin_drag()

        def move(obj, event):
            x, y = iren.GetEventPosition()
            if not drag:
                if editing and active() and QApplication.mouseButtons() == Qt.NoButton:  # not turning the camera
                    grid = sketch.grid()
                    set_hover(None if grid is None else self.pick_point(grid, x, y))
                return
            motion = self.display_to_world(x, y, drag["depth"]) - drag["start"]
            sketch.drag_to(*drag["point"], drag["grabbed"] + motion)
            swallow(tags["move"])

        def release(obj, event):
            if drag:
                drag.clear()
                sketch.end_drag()
                swallow(tags["release"])

        def wheel(obj, event):
            if not drag:
                return
            if editing and sketch.proportional:
                sketch.set_radius(sketch.radius * 1.15 ** (1 if event == "MouseWheelForwardEvent" else -1))
            swallow(tags[event])  # no zoom while dragging: the drag's plane is the camera's

        def leave(obj, event):
            if editing and not drag and active() and sketch.hover is not None:
                set_hover(None)

        def cancel():
            if not drag:
                return
            drag.clear()
            if hasattr(sketch, "cancel_drag"):  # Sketch: the points back; Rewrite: the model as it was
                sketch.cancel_drag()

        tags = {"press": iren.AddObserver("LeftButtonPressEvent", press, 10.0),
                "move": iren.AddObserver("MouseMoveEvent", move, 10.0),
                "release": iren.AddObserver("LeftButtonReleaseEvent", release, 10.0),
                "leave": iren.AddObserver("LeaveEvent", leave, 10.0)}
        for event in ("MouseWheelForwardEvent", "MouseWheelBackwardEvent"):
            tags[event] = iren.AddObserver(event, wheel, 10.0)
        previous = self.on_escape  # (Sketch's drag and Rewrite's each cancel their own)
        self.on_escape = cancel if previous is None else (lambda: (previous(), cancel()))
