"""The Gallery tab: a quality-diversity search (grc.diverge.search) run in the background, its
archive filling as thumbnails laid out by descriptor (arch across, cup up).

The genome varies the blend, the context path and the strengths of a look's bends: the look in the
Bend panel when it has bends (so an artist's own bends are searched), else a default look (scale and
oscillate each hidden layer, grc.diverge.search.Space). Hovering a thumbnail shows its novelty and
verdict; a click opens the shape in Explore (its time, blend, path, and its look in the Bend panel);
"Keep" bookmarks it (saved beside the model as `<model>.kept.json`); "Make template" adds it to the
template set (grc.shapes.keep_as_template, its lineage naming the model and the genome); "More like
this" searches among the children of the chosen shape.

The worker never touches a widget or the plotter: it computes each new elite's grid and paints its
thumbnail into a QImage (safe outside the GUI thread), and hands both over through a signal.
"""

from __future__ import annotations

import json
import traceback
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PyQt5.QtCore import QPointF, QRectF, QSize, Qt, QThread, pyqtSignal
from PyQt5.QtGui import QColor, QImage, QPainter, QPen, QPolygonF
from PyQt5.QtWidgets import (QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QProgressBar, QPushButton,
                             QSizePolicy, QToolTip, QVBoxLayout, QWidget)

import grc
from grc import GRCError, examples
from grc.diverge.bend import Bend, Look
from grc.diverge.search import CELLS, Genome, Space
from grc.io import atomic_write
from grc.limits import MAX_TEMPLATE_BYTES, parse_json, read_text
from grc.mesh import grid_faces

from .explore_panel import SpinBox
from .state import PAD_SAMPLES

KEPT_FORMAT = "grc-kept/1"
THUMB = 64  # thumbnail size in pixels (drawn scaled into the grid's cells)
COLOURS = {"coherent": (41, 122, 176), "strained": (209, 138, 28)}


def _camera(towards=(-0.8, -1.0, 0.9), up=(0.0, 0.0, 1.0)):
    """Screen right, screen up and the direction to the camera of the 3D view's default camera
    (gui.view3d reset_camera): a thumbnail looks like the shape a click shows."""
    d = np.asarray(towards, float) / np.linalg.norm(towards)
    right = np.cross(-d, up)
    right /= np.linalg.norm(right)
    return right, np.cross(right, -d), d


RIGHT, UP, TOWARDS = _camera()


def thumbnail(grid, verdict: str, size: int = THUMB) -> QImage:
    """The shape drawn shaded, flat quads far to near, from the 3D view's default camera: a QImage painted
    without the plotter (safe in a worker thread). As cheap as grc.diverge.search.contact_sheet's."""
    grid = np.asarray(grid, float)
    M, N = grid.shape[:2]
    points = grid.reshape(-1, 3) - grid.reshape(-1, 3).mean(axis=0)
    screen = points @ np.stack([RIGHT, UP]).T
    scale = 0.45 * size / (np.abs(screen).max() or 1.0)
    xy = np.stack([size / 2 + screen[:, 0] * scale, size / 2 - screen[:, 1] * scale], axis=1)
    quads = grid_faces(M, N)
    corners = points[quads]
    normal = np.cross(corners[:, 2] - corners[:, 0], corners[:, 3] - corners[:, 1])
    normal /= np.maximum(np.linalg.norm(normal, axis=1, keepdims=True), 1e-12)
    shade = 0.35 + 0.65 * np.abs(normal @ TOWARDS)
    order = np.argsort(corners.mean(axis=1) @ TOWARDS)  # far quads first
    base = np.array(COLOURS.get(verdict, (128, 128, 128)), float)
    image = QImage(size, size, QImage.Format_ARGB32)
    image.fill(Qt.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.Antialiasing)
    for f in order:
        c = np.clip(base * shade[f] + 38 * shade[f], 0, 255).astype(int)
        painter.setPen(QPen(QColor(*c), 0.5))
        painter.setBrush(QColor(*c))
        painter.drawPolygon(QPolygonF([QPointF(*xy[q]) for q in quads[f]]))
    painter.end()
    return image


@dataclass
class Tile:
    """One elite as the gallery shows it: the archive's record, its grid and its thumbnail."""

    cell: tuple
    vector: np.ndarray
    genome: Genome
    verdict: str
    novelty: float
    descriptors: dict
    grid: np.ndarray
    image: QImage

    def tip(self) -> str:
        d = self.descriptors
        return (f"novelty {self.novelty:.2f} · {self.verdict}\narch {d['arch']:.0f}°, cup {d['cup']:.0f}°, "
                f"twist {d['twist']:.0f}°\nblend {np.round(self.genome.weights, 2).tolist()}")


def enable(states: dict, twin):
    """Enable and disable widgets ({widget: on}) so that the keyboard focus stays in sight: a widget about to grey
    out that has the focus hands it to `twin` (Search's Cancel) first. Qt would pass it to the next widget (the
    grid), and the side panel's scroll area would scroll to that one."""
    for widget, on in states.items():  # the ones coming on first: the focus can go to them
        if on:
            widget.setEnabled(True)
    if any(not on and widget.window().focusWidget() is widget for widget, on in states.items()) and twin.isEnabled():
        twin.setFocus()
    for widget, on in states.items():
        if not on:
            widget.setEnabled(False)


class SearchWorker(QThread):
    """grc.diverge.search.search in a thread; each report hands over the new elites as Tiles."""

    progress = pyqtSignal(int, int, object)  # done, budget, {cell: Tile} (new or better elites)
    done = pyqtSignal(object, object)  # archive, space
    failed = pyqtSignal(str)
    cancelled = pyqtSignal()

    def __init__(self, model, budget: int, seed: int, time: float, look: Look, around=None, parent=None):
        super().__init__(parent)
        self.model, self.budget, self.seed, self.look, self.around = model, budget, seed, look, around
        self.space = Space.for_model(model, time, look)  # the same Space search() makes
        self._cancel = False
        self.bounds = None  # the archive's descriptor bounds (set once the first shapes are in)
        self._shown: dict = {}  # cell -> the elite dict last handed over

    def cancel(self):
        self._cancel = True

    def _tiles(self, archive) -> dict:
        tiles = {}
        for cell, e in list(archive.elites.items()):
            if self._shown.get(cell) is e:
                continue
            self._shown[cell] = e
            grid = self.space.shape(e["genome"])
            tiles[cell] = Tile(cell, np.array(e["vector"]), e["genome"], e["verdict"], float(e["novelty"]),
                               dict(e["descriptors"]), grid, thumbnail(grid, e["verdict"]))
        return tiles

    def _report(self, done, budget, archive):
        if self._cancel:
            raise grc.Cancelled()
        self.bounds = archive.bounds.copy()
        self.progress.emit(done, budget, self._tiles(archive))

    def run(self):
        from grc.diverge.search import search

        try:
            archive, space = search(self.model, self.budget, self.seed, time=self.space.time, look=self.look,
                                    callback=self._report, around=self.around)
        except grc.Cancelled:
            self.cancelled.emit()
        except GRCError as e:
            self.failed.emit(str(e))
        except Exception as e:  # noqa: BLE001 - the gallery keeps what it has; the user sees why
            traceback.print_exc()
            self.failed.emit(f"search failed: {type(e).__name__}: {e}")
        else:
            self.progress.emit(self.budget, self.budget, self._tiles(archive))
            self.done.emit(archive, space)


class GalleryGrid(QWidget):
    """The archive's descriptor grid: arch across, cup up; a thumbnail in each filled cell."""

    clicked = pyqtSignal(object)  # the cell
    opened = pyqtSignal(object)  # a double click: the cell

    def __init__(self, parent=None):
        super().__init__(parent)
        self.tiles: dict = {}
        self.bounds = None
        self.selected = None
        self.setMouseTracking(True)
        self.setMinimumSize(240, 240)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Expanding)

    def sizeHint(self):
        return QSize(400, 400)

    def clear(self):
        self.tiles, self.bounds, self.selected = {}, None, None
        self.update()

    def add(self, tiles: dict):
        self.tiles.update(tiles)
        self.update()

    def _frame(self) -> tuple[float, float, float]:
        side = max(min(self.width() - 24, self.height() - 22), CELLS)
        return 20.0 + (self.width() - 24 - side) / 2, 4.0, side / CELLS  # left, top, cell size

    def cell_rect(self, cell) -> QRectF:
        left, top, size = self._frame()
        i, j = cell
        return QRectF(left + i * size, top + (CELLS - 1 - j) * size, size, size)

    def cell_at(self, pos):
        left, top, size = self._frame()
        i, j = int((pos.x() - left) // size), CELLS - 1 - int((pos.y() - top) // size)
        return (i, j) if 0 <= i < CELLS and 0 <= j < CELLS else None

    def paintEvent(self, event):
        painter = QPainter(self)
        left, top, size = self._frame()
        painter.fillRect(QRectF(left, top, size * CELLS, size * CELLS), QColor(250, 250, 250))
        painter.setPen(QPen(QColor(225, 225, 225), 1))
        for k in range(CELLS + 1):
            painter.drawLine(QPointF(left + k * size, top), QPointF(left + k * size, top + CELLS * size))
            painter.drawLine(QPointF(left, top + k * size), QPointF(left + CELLS * size, top + k * size))
        painter.setRenderHint(QPainter.SmoothPixmapTransform)
        for cell, tile in self.tiles.items():
            painter.drawImage(self.cell_rect(cell), tile.image)
        if self.selected in self.tiles:
            painter.setPen(QPen(QColor(200, 30, 30), 2))
            painter.setBrush(Qt.NoBrush)
            painter.drawRect(self.cell_rect(self.selected).adjusted(1, 1, -1, -1))
        painter.setPen(QColor(90, 90, 90))
        arch, cup = self.axis_texts()
        painter.drawText(QRectF(left, top + CELLS * size, CELLS * size, 18), Qt.AlignCenter, arch)
        painter.save()
        painter.translate(left - 6, top + CELLS * size / 2)
        painter.rotate(-90)
        painter.drawText(QRectF(-150, -12, 300, 14), Qt.AlignCenter, cup)
        painter.restore()
        painter.end()

    def axis_texts(self) -> tuple[str, str]:
        """The axes' labels. The bounds are fitted to the first tenth of the search: shapes found later beyond them
        sit in the edge cells, so the ends read "or less" and "or more" (a 48-degree arch in the first column of
        "68° → 187°" looked misplaced)."""
        if self.bounds is None:
            return "arch →", "cup →"
        (a0, a1), (c0, c1) = self.bounds
        return f"arch ≤{a0:.0f}° → ≥{a1:.0f}° (the midline turns)", f"cup ≤{c0:.0f}° → ≥{c1:.0f}° (the rows curl)"

    def mouseMoveEvent(self, event):
        cell = self.cell_at(event.pos())
        if cell in self.tiles:
            QToolTip.showText(event.globalPos(), self.tiles[cell].tip(), self)
        else:
            QToolTip.hideText()

    def mousePressEvent(self, event):
        cell = self.cell_at(event.pos())
        if event.button() == Qt.LeftButton and cell in self.tiles:
            self.selected = cell
            self.update()
            self.clicked.emit(cell)

    def mouseDoubleClickEvent(self, event):
        cell = self.cell_at(event.pos())
        if cell in self.tiles:
            self.opened.emit(cell)


def kept_file(model_path) -> Path | None:
    """Where a model's kept shapes are saved: `<model>.kept.json` beside it; for a bundled example,
    in ~/GRC Studio."""
    if model_path is None:
        return None
    model_path = Path(model_path)
    folder = Path.home() / "GRC Studio" if examples.is_bundled(model_path) else model_path.parent
    return folder / f"{model_path.stem}.kept.json"


def read_kept(path) -> list[dict]:
    """The kept shapes of a `grc-kept/1` file ([] when there is none)."""
    if path is None or not Path(path).exists():
        return []
    data = parse_json(read_text(path, MAX_TEMPLATE_BYTES, "kept shapes file"), path)
    if not isinstance(data, dict) or data.get("format") != KEPT_FORMAT or not isinstance(data.get("kept"), list):
        raise GRCError(f"expected {KEPT_FORMAT!r} with a list 'kept'", path=path, field="format")
    out = []
    for i, k in enumerate(data["kept"]):
        if not isinstance(k, dict):
            raise GRCError("expected a JSON object", path=path, field=f"kept[{i}]")
        Genome.from_json(k.get("genome"), path)  # checked now, not when clicked
        Look.from_json(k.get("look"), path)
        out.append(k)
    return out


class GalleryPanel(QWidget):
    """Search controls, the descriptor grid, the chosen shape's actions and the kept shapes."""

    status = pyqtSignal(str)  # a message for the status bar
    open_in_explore = pyqtSignal()  # a double click: show the Explore tab

    def __init__(self, state, doc, parent=None):
        super().__init__(parent)
        self.state, self.doc = state, doc
        self.worker: SearchWorker | None = None
        self.space: Space | None = None
        self.archive = None  # the finished search's Archive
        self.kept: list[dict] = []
        self.errors: list[str] = []
        # Explore's look: `active_look()` -> Look | None and `show_look(Look)` (the Bend panel, wired by
        # the main window); None: no looks here, the genomes vary blend and path only
        self.looks = None

        self.budget = SpinBox(minimum=64, maximum=100000, singleStep=500, value=2000)
        self.seed = SpinBox(minimum=0, maximum=99999, value=0)
        self.start = QPushButton("Search")
        self.cancel = QPushButton("Cancel")
        self.cancel.setEnabled(False)
        self.bar = QProgressBar(maximum=1000)
        self.info = QLabel("Search what the model can make: thumbnails fill the grid by arch and cup.")
        self.info.setWordWrap(True)
        self.grid = GalleryGrid()
        self.keep = QPushButton("Keep")
        self.template = QPushButton("Make template")
        self.more = QPushButton("More like this")
        self.back = QPushButton("Back", toolTip="The shapes shown before the last More like this")
        self.earlier: list = []  # what More like this replaced, newest last: (tiles, bounds, selected, archive, space, info)
        self.kept_list = QListWidget()
        self.kept_list.setMaximumHeight(72)

        top = QHBoxLayout()
        for w in (QLabel("Shapes"), self.budget, QLabel("Seed"), self.seed, self.start, self.cancel):
            top.addWidget(w)
        actions = QHBoxLayout()
        for w in (self.keep, self.template, self.more, self.back):
            actions.addWidget(w)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.bar)
        layout.addWidget(self.info)
        layout.addWidget(self.grid, 1)
        layout.addLayout(actions)
        layout.addWidget(QLabel("Kept (click to open):"))
        layout.addWidget(self.kept_list)
        self._enable()

        self.start.clicked.connect(lambda: self.run())
        self.cancel.clicked.connect(self.stop)
        self.grid.clicked.connect(self.open_cell)
        self.grid.opened.connect(lambda cell: (self.open_cell(cell), self.open_in_explore.emit()))
        self.keep.clicked.connect(lambda: self.keep_selected())
        self.template.clicked.connect(lambda: self.make_template())
        self.more.clicked.connect(lambda: self.more_like_this())
        self.back.clicked.connect(lambda: self.go_back())
        self.kept_list.itemClicked.connect(lambda item: self.open_kept(self.kept_list.row(item)))
        doc.model_changed.connect(self.model_changed)
        state.changed.connect(self._enable)

    # -- what is searched ------------------------------------------------------------------------
    @property
    def model(self):
        return self.state.model

    def look(self) -> Look:
        """The look whose bend strengths the search varies: Explore's own when it has bends, else the
        default search look; without Explore's looks, no bends (blend and path only)."""
        if self.looks is None:
            return Look([], name="none")
        return self.looks.active_look() or Space.for_model(self.model, self.state.time).look

    @property
    def running(self) -> bool:
        return self.worker is not None and self.worker.isRunning()

    def _enable(self):
        chosen = self.grid.selected in self.grid.tiles
        enable({self.start: not self.running and self.model is not None, self.cancel: self.running,
                self.keep: chosen, self.template: chosen, self.more: chosen and not self.running,
                self.back: bool(self.earlier) and not self.running},
               self.cancel if self.running else self.start)

    def model_changed(self):
        """Another model: the archive belonged to the old one."""
        self.stop()
        if self.worker is not None:
            self.worker.wait()
            self.worker = None  # what it had queued (tiles, done, cancelled) is no longer ours
        self.grid.clear()
        self.space = self.archive = None
        self.earlier = []
        self.info.setText("Search what the model can make: thumbnails fill the grid by arch and cup.")
        self.bar.setValue(0)
        self.load_kept()
        self._enable()

    # -- searching -------------------------------------------------------------------------------
    def run(self, budget=None, seed=None, around=None) -> bool:
        if self.running or self.model is None:
            return False
        budget = self.budget.value() if budget is None else budget
        seed = self.seed.value() if seed is None else seed
        children = around is not None and self.space is not None
        if around is None:  # a search of its own: no way back to what More like this replaced before
            self.earlier = []
        look = self.space.look if children else self.look()
        time = self.space.time if children else self.state.time  # a search is made at the time shown
        self.grid.clear()
        self.archive = None
        self.bar.setValue(0)  # (not the last search's 100 % until the first report)
        self.worker = SearchWorker(self.model, budget, seed, time, look, around, self)
        self.space = self.worker.space
        self.worker.progress.connect(self._progress)
        self.worker.done.connect(self._done)
        self.worker.failed.connect(self._failed)
        self.worker.cancelled.connect(self._cancelled)
        self.worker.finished.connect(self._enable)
        self.worker.start()
        what = "children of the chosen shape" if around is not None else f"{budget} shapes"
        self.info.setText(f"Searching {what}…")
        self._enable()
        return True

    def stop(self):
        if self.worker is not None:
            self.worker.cancel()

    def _progress(self, done, budget, tiles):
        if self.sender() is not self.worker:
            return  # a search that was replaced
        self.grid.bounds = self.worker.bounds
        self.grid.add(tiles)
        self.bar.setValue(int(1000 * done / max(budget, 1)))
        self.info.setText(f"{done} of {budget} shapes: {len(self.grid.tiles)} in the archive "
                          f"({len(self.grid.tiles) / CELLS**2:.0%} of the grid)")

    def _done(self, archive, space):
        if self.sender() is not self.worker:
            return
        self.archive = archive
        n = len(archive.elites)
        self.info.setText(f"{n} shapes in the archive, coverage {archive.coverage:.0%}; hover for novelty and "
                          "verdict, click to open in Explore")
        self._enable()

    def _failed(self, message):
        if self.sender() is not self.worker:
            return
        self.errors.append(message)
        self.info.setText(f"The search stopped: {message}")
        self.status.emit(message)

    def _cancelled(self):
        if self.sender() is not self.worker:
            return
        self.info.setText(f"Cancelled: {len(self.grid.tiles)} shapes found so far are kept here.")

    # -- the chosen shape ------------------------------------------------------------------------
    def selected(self) -> Tile | None:
        return self.grid.tiles.get(self.grid.selected)

    def open_cell(self, cell):
        self.grid.selected = cell
        self.grid.update()
        self._enable()
        tile = self.grid.tiles.get(cell)
        if tile is not None:
            self.open_genome(tile.genome, self.space)
            self.status.emit(f"Opened in Explore: {tile.tip().splitlines()[0]}")

    def path_offsets(self, genome: Genome, space: Space) -> np.ndarray:
        """The genome's path control values as offsets from the blend's own context path, at the model's
        morph samples (M, C) (what grc.shapes.keep_as_template takes)."""
        return space.context(genome) - space.model.context(space.time, genome.weights, space.model.templates.morph)

    def open_genome(self, genome: Genome, space: Space):
        """Set Explore to the genome's shape: time, blend, path and look (the Bend panel shows its bends)."""
        state, model = self.state, space.model
        if state.model is not model:  # the shape is the searched model's: Diverge may show another (a checkpoint)
            state.set_model(model)
        state.set_time(space.time)
        state.set_blend(genome.weights)
        if model.context_dims:  # (a model without context has no path to draw)
            state.set_path(self.pad_path(space.context(genome), model.templates.morph, state.pad_morph(),
                                         state.blend_context(state.pad_morph())))
        if self.looks is not None:
            self.looks.show_look(self.look_of(genome, space) or Look([]))

    @staticmethod
    def pad_path(target, morph, pad, blend_path) -> np.ndarray:
        """A drawn path over the pad's samples whose linear interpolation at the shape's `morph` samples is
        exactly `target` (M, C): the blend's path plus the target's offsets, then the least change that
        makes it exact there (the Explore state holds a path at the pad's samples)."""
        offsets = target - np.stack([np.interp(morph, pad, blend_path[:, c]) for c in range(target.shape[1])], 1)
        path = blend_path + np.stack([np.interp(pad, morph, offsets[:, c]) for c in range(target.shape[1])], 1)
        W = np.stack([np.interp(morph, pad, e) for e in np.eye(len(pad))], axis=1)  # (M, pad): interpolation
        return path + W.T @ np.linalg.lstsq(W @ W.T, target - W @ path, rcond=None)[0]

    @staticmethod
    def look_of(genome: Genome, space: Space) -> Look | None:
        """The space's look with the genome's bend strengths (None without bends)."""
        if not space.look.bends:
            return None
        bends = [Bend(**{**b.to_json(), "strength": float(s)}) for b, s in zip(space.look.bends, genome.strengths)]
        return Look(bends, name=space.look.name)

    def make_template(self, name=None):
        """The chosen shape, at every time step, as a new template in the set (one undoable edit)."""
        tile = self.selected()
        if tile is None or self.space is None:
            return None
        from .sketch import keep_into_set

        names = {t.name for t in self.doc.templates}
        if name is None:
            i = 1
            while f"gallery-{i}" in names:
                i += 1
            name = f"gallery-{i}"
        space = self.space
        try:
            template = keep_into_set(self.doc.templates, space.model, name, tile.genome.weights,
                                     context_offsets=self.path_offsets(tile.genome, space),
                                     look=self.look_of(tile.genome, space), source="gallery")
        except GRCError as e:
            self.status.emit(f"Not made a template: {e}")
            return None
        template.lineage["genome"] = tile.genome.to_json()
        template.lineage["search"] = {"time": space.time, "look": space.look.to_json(),
                                      "descriptors": tile.descriptors, "novelty": tile.novelty}
        self.doc.interrupt()  # a sketch gesture under way is not part of this set
        self.doc.edit(list(self.doc.templates) + [template], "Make template")
        self.status.emit(f"Added template {name} to the set (save the set to keep it)")
        return template

    def more_like_this(self) -> bool:
        """A search around the chosen shape; what it replaces comes back with Back."""
        tile = self.selected()
        if tile is None or self.running:
            return False
        g = self.grid
        self.earlier.append((dict(g.tiles), g.bounds, g.selected, self.archive, self.space, self.info.text()))
        return self.run(budget=max(256, self.budget.value() // 4), around=tile.vector)

    def go_back(self) -> bool:
        """The shapes shown before the last More like this, the chosen one chosen again."""
        if not self.earlier or self.running:
            return False
        tiles, bounds, selected, self.archive, self.space, info = self.earlier.pop()
        self.grid.clear()
        self.grid.add(tiles)
        self.grid.bounds, self.grid.selected = bounds, selected
        self.grid.update()
        self.info.setText(info)
        self._enable()
        return True

    # -- kept shapes -----------------------------------------------------------------------------
    def kept_path(self):
        return kept_file(self.doc.model_path)

    def load_kept(self):
        try:
            self.kept = read_kept(self.kept_path())
        except GRCError as e:
            self.kept = []
            self.status.emit(f"Kept shapes not read: {e}")
        self.kept_list.clear()
        for k in self.kept:
            self.kept_list.addItem(QListWidgetItem(k.get("name", "kept")))

    def keep_selected(self):
        """Bookmark the chosen shape (saved beside the model)."""
        tile = self.selected()
        if tile is None or self.space is None:
            return None
        from grc.diverge.blend import model_id

        entry = {"name": f"kept {len(self.kept) + 1}: novelty {tile.novelty:.2f}, {tile.verdict}",
                 "model": model_id(self.space.model), "time": self.space.time, "path_scale": self.space.path_scale,
                 "look": self.space.look.to_json(), "genome": tile.genome.to_json(), "verdict": tile.verdict,
                 "novelty": tile.novelty, "descriptors": tile.descriptors}
        self.kept.append(entry)
        self.kept_list.addItem(QListWidgetItem(entry["name"]))
        path = self.kept_path()
        if path is None:
            self.status.emit("Kept for this session (the model is not saved to a file)")
            return entry
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(path, json.dumps({"format": KEPT_FORMAT, "kept": self.kept}, indent=1) + "\n")
        except (OSError, GRCError) as e:
            self.status.emit(f"Kept for this session; not saved to {path}: {e}")
        else:
            self.status.emit(f"Kept; saved in {path}")
        return entry

    def open_kept(self, row: int):
        k = self.kept[row]
        try:
            space = Space(self.model, float(k["time"]), Look.from_json(k["look"]), float(k["path_scale"]))
            self.open_genome(Genome.from_json(k["genome"]), space)
        except (GRCError, KeyError, TypeError, ValueError) as e:
            self.status.emit(f"Cannot open this kept shape with the current model: {e}")
