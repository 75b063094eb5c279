"""The app's evented models: what is being explored (ExploreState) and what is open (Document).

Widgets change these through their setters; views subscribe to their signals. No maths here:
shapes and contexts come from the GRCModel.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import time as clock
import uuid
from pathlib import Path

import numpy as np
from PyQt5.QtCore import QObject, QTimer, pyqtSignal
from PyQt5.QtWidgets import QUndoCommand, QUndoStack

from grc import GRCError, GRCModel, Template, load_model
from grc.examples import is_bundled
from grc.io import atomic_write
from grc.io import recovery_folder as _recovery_folder
from grc.limits import MAX_TEMPLATE_BYTES, parse_json, read_text
from grc.templates import check_set, check_template, load_template, save_templates, template_files, template_filename

PAD_SAMPLES = 64  # morph samples of the context pad's curves (and of a drawn context path)
BLEND_RANGE = (-1.5, 2.5)  # what the blend slider and the context pad reach (two templates: α)
WEIGHT_RANGE = (-1.0, 2.0)  # each template's weight (three or more templates)
UNTITLED = "untitled-"  # the recovery file of a new set saved nowhere yet: untitled-<id>.json


class ExploreState(QObject):
    """Time, blend, an optional drawn context path, and the view options of the 3D view."""

    changed = pyqtSignal()  # the shape changed (time, blend, context path)
    view_changed = pyqtSignal()  # subdivision, grid, petals, thickness

    def __init__(self):
        super().__init__()
        self.model: GRCModel | None = None
        self.time = 0.0
        self.weights = np.zeros(2)  # one weight per template (blend = alpha = weights[1] for two)
        self.offsets = None  # a drawn context path, as offsets from the blend's own path: (PAD_SAMPLES, C)
        self.subdivide, self.show_grid, self.petals, self.thickness = 2, False, 1, 0.0

    # -- model ---------------------------------------------------------------------------------
    def set_model(self, model: GRCModel | None):
        """A new model keeps time and blend where they still make sense."""
        old = self.model
        self.model = model
        if model is not None:
            t = model.templates.time
            if old is None or not (t[0] <= self.time <= t[-1]):
                self.time = float(t[min(len(t) - 1, int(0.7 * (len(t) - 1)))])
            if old is None or len(old.templates) != len(model.templates):
                self.weights = np.eye(len(model.templates))[0] if len(model.templates) > 2 else np.array([0.5, 0.5])
            if self.offsets is not None and (old is None or old.context_dims != model.context_dims):
                self.offsets = None
        self.changed.emit()

    @property
    def blend(self):
        """The blend as model.shape takes it: α for two templates, else the K weights."""
        return float(self.weights[1]) if len(self.weights) == 2 else self.weights.copy()

    def pad_morph(self) -> np.ndarray:
        return self.model.morph_samples(PAD_SAMPLES)

    @property
    def path(self):
        """The drawn context path at the current time, (PAD_SAMPLES, C), or None (the blend's own).

        It is stored as offsets from the blend's own path, so it follows time as the traces do.
        """
        if self.offsets is None or self.model is None:
            return None
        return self.blend_context(self.pad_morph()) + self.offsets

    def time_range(self) -> tuple[float, float]:
        t = self.model.templates.time if self.model is not None else (0.0, 1.0)
        return float(t[0]), float(t[-1])

    # -- setters (each emits `changed`) ----------------------------------------------------------
    def set_time(self, time: float):
        """A time within the model's range (a value that is not a finite number is ignored)."""
        time = float(time)
        if not math.isfinite(time):
            return
        low, high = self.time_range()
        self.time = min(max(time, low), high)
        self.changed.emit()

    def set_blend(self, blend):
        """α (two templates) or K weights; returns to the blend's own context path.

        Values that are not finite are ignored; each is kept within the blend slider's reach.
        """
        values = np.atleast_1d(np.asarray(blend, dtype=float))
        if not np.isfinite(values).all():
            return
        values = np.clip(values, *BLEND_RANGE) if values.size == 1 else values
        blend = float(values[0]) if values.size == 1 else values
        self.weights = self.model.blend_weights(blend).astype(float) if self.model else values
        self.offsets = None
        self.changed.emit()

    def set_weight(self, k: int, value: float):
        w = self.weights.copy()
        w[k] = value
        if len(w) == 2:
            w[1 - k] = 1 - value
        self.set_blend(w)

    def set_path(self, path):
        """A drawn context path over pad_morph() at the current time, (PAD_SAMPLES, C); None returns
        to the blend. Kept as offsets from the blend's own path (so a time change moves it along)."""
        if path is None:
            self.offsets = None
        else:
            path = np.array(path, dtype=float)
            if not np.isfinite(path).all():
                return
            self.offsets = path - self.blend_context(self.pad_morph())
        self.changed.emit()

    def set_view(self, **options):
        for key, value in options.items():
            setattr(self, key, value)
        self.view_changed.emit()

    # -- what the views show (all from the model) ---------------------------------------------
    def blend_context(self, morph=None) -> np.ndarray:
        return self.model.context(self.time, self.blend, morph)

    def context(self, morph=None) -> np.ndarray:
        """The current context path at the shape's morph samples: (M', C)."""
        path = self.path
        if path is None:
            return self.blend_context(morph)
        samples, pad = self.model.morph_samples(morph), self.pad_morph()
        return np.stack([np.interp(samples, pad, path[:, c]) for c in range(path.shape[1])], axis=1)

    def shape_args(self) -> dict:
        """Arguments for model.shape / grc.shapes.export that give the shape on screen."""
        args = dict(time=self.time, blend=self.blend)
        if self.offsets is not None:
            args["context"] = self.context()
        return args

    def grid(self) -> np.ndarray:
        """The current shape: (M, N, 3)."""
        args = self.shape_args()
        return self.model.shape(args.pop("time"), args.pop("blend"), **args)


# ---------------------------------------------------------------------------------------------


def recovery_folder() -> Path:
    """Where autosaves go: grc.io.recovery_folder() ($GRC_STUDIO_RECOVERY)."""
    return _recovery_folder()


def set_aside(path: Path) -> Path:
    """Rename a damaged file (or a folder in its place) to `<name>.damaged` (then .damaged-2, ...)."""
    target = path.with_name(path.name + ".damaged")
    i = 2
    while target.exists() or target.is_symlink():
        target = path.with_name(f"{path.name}.damaged-{i}")
        i += 1
    os.rename(path, target)
    return target


def check_model(model: GRCModel, path=None):
    """Refuse a model whose shapes are not finite numbers (a damaged file), before it is shown."""
    t = model.templates.time
    blend = 0.5 if len(model.templates) == 2 else np.full(len(model.templates), 1 / len(model.templates))
    for time in (t[0], t[-1]):
        try:
            with np.errstate(all="ignore"):  # a damaged model's NaNs are refused below, not warned about
                grid = model.shape(float(time), blend)
        except (ArithmeticError, ValueError, IndexError, TypeError) as e:
            raise GRCError(f"damaged model: its shape cannot be computed ({type(e).__name__}: {e})", path=path) from None
        if not np.isfinite(grid).all():
            raise GRCError("damaged model: its shapes are not finite numbers", path=path)


class Snapshot(QUndoCommand):
    """Every template edit is a swap of the whole template list (they are small)."""

    def __init__(self, doc: "Document", before: list[Template], after: list[Template], text: str):
        super().__init__(text)
        self.doc, self.before, self.after = doc, list(before), list(after)

    def redo(self):
        self.doc._set_templates(self.after)

    def undo(self):
        self.doc._set_templates(self.before)


def copy_template(t: Template, name: str | None = None, points=None, time=None) -> Template:
    """A copy (its lineage kept), optionally renamed, with new points (and time steps)."""
    return Template(t.name if name is None else name, (t.time if time is None else np.asarray(time, float)).copy(),
                    t.morph.copy(), (t.points if points is None else points).copy(), t.attribution, dict(t.lineage))


def moved_template(t: Template, points: np.ndarray) -> Template:
    """`t` with new points of the same shape (T, M, N, 3), for a gesture's live preview: the points are taken as
    they are (not copied) and only they are checked (finite); the name, map and lineage are t's, already checked,
    and are shared. A drag move costs a fraction of copy_template's full check_template (every move repaints)."""
    if points.shape != t.points.shape or points.dtype != np.float64:
        return copy_template(t, points=points)
    moved = object.__new__(Template)
    moved.__dict__.update(t.__dict__)
    moved.points, moved._path = points, None  # (as copy_template's: an edited template is no longer its file's)
    if not np.isfinite(points).all():
        check_template(moved)  # raises GRCError naming the first coordinate that is not a finite number
    return moved


class SetHistory(QUndoStack):
    """The template set's undo stack. Undo or Redo in the middle of a gesture (a drag, a G / R / S) cancels the
    gesture and does only that, from wherever they are asked (Ctrl+Z, the Sketch panel's buttons)."""

    def __init__(self, doc: "Document"):
        super().__init__(doc)
        self.doc = doc

    def undo(self):
        if not self.doc.interrupt():
            super().undo()

    def redo(self):
        if not self.doc.interrupt():
            super().redo()


class Document(QObject):
    """What is open: the model (if any), the template set being sketched, its folder, undo history.

    Template edits go through `edit()` (one undoable step); the set is validated after each one
    and autosaved to a recovery file until it is saved.

    A gesture never outlives what else you do: everything that changes or reads the set as a whole (`edit`,
    Undo / Redo, `save`, `template_set` for a training, opening another) first cancels a gesture under way
    (`interrupt`), so what it changes, saves or trains is what the screen shows once the gesture is gone.
    """

    model_changed = pyqtSignal()
    templates_changed = pyqtSignal()
    dirty_changed = pyqtSignal(bool)
    gesture_changed = pyqtSignal()  # a gesture (a drag, a G / R / S) began or ended on one of `gestures`
    autosave_failed = pyqtSignal(str)  # why the recovery file could not be written ("" once it works again)

    def __init__(self):
        super().__init__()
        self.model: GRCModel | None = None
        self.model_path: Path | None = None
        self.templates: list[Template] = []
        self.folder: Path | None = None  # where the templates are saved
        self.files: list[Path] = []  # the template files last read or written there
        self.error: str | None = None  # why the set cannot be trained or saved, or None
        self.undo = SetHistory(self)
        self.undo.cleanChanged.connect(lambda clean: self.dirty_changed.emit(not clean))
        self.undo.indexChanged.connect(self._schedule_recovery)
        self._recovery_timer = QTimer(self, singleShot=True, interval=500)
        self._recovery_timer.timeout.connect(self.write_recovery)
        # the recovery file last written for this set: its name follows the set's identity (untitled, then the
        # model a training saved, then the folder it is saved to), so a move leaves no stale one behind
        self._recovery_written: Path | None = None
        self.generation = 0  # counts the documents opened (a training or run started for one is not another's)
        self.gestures: list = []  # what can hold a gesture under way on the set (interrupt(restore) -> bool)
        self.untitled = uuid.uuid4().hex[:12]  # names a new set's autosave until it is saved somewhere
        self._on_disk: dict = {}  # the set folder's template files as last read or written: {name: mtime_ns}

    # -- opening -------------------------------------------------------------------------------
    def open_model(self, path, folder=None):
        """Open a .grc model; its templates become the set to sketch (saved to `folder`)."""
        model = load_model(path)  # raises GRCError on a damaged file; nothing changes then
        check_model(model, path)
        self.model, self.model_path = model, Path(path)
        templates, files = [copy_template(t) for t in model.templates], []
        if folder is not None and Path(folder).is_dir():
            try:
                templates, files = self._read_folder(folder)
            except GRCError:
                pass
        self._reset(templates, folder, files)
        self.model_changed.emit()

    def open_folder(self, folder):
        """Open a template folder (templates that disagree are opened and flagged, not refused)."""
        templates, files = self._read_folder(folder)
        self.model, self.model_path = None, None
        self._reset(templates, Path(folder), files)
        self.model_changed.emit()

    @staticmethod
    def _read_folder(folder):
        folder = Path(folder)
        if not folder.is_dir():
            raise GRCError("expected a folder of template .json files", path=folder)
        files = template_files(folder)  # blend order (natural order of the numbers; hidden files skipped)
        if not files:
            raise GRCError("no template .json files in this folder", path=folder)
        return [load_template(f) for f in files], files

    @property
    def dragging(self) -> bool:
        """Whether a gesture is under way on the set (or on the model, a rewrite drag)."""
        return any(g.dragging for g in self.gestures)

    def confirmed_templates(self) -> list[Template]:
        """The set without a gesture's unconfirmed preview: the templates a gesture under way started from (what
        the autosave writes, so a crash mid-gesture, or Esc after an autosave, never brings the preview back)."""
        for gesture in self.gestures:
            before = getattr(gesture, "templates_before", None)  # (a rewrite drag changes the model, not the set)
            if before is not None:
                return list(before)
        return list(self.templates)

    def interrupt(self, restore: bool = True) -> bool:
        """Cancel any gesture under way (before Undo, another action, another document); True if one was."""
        return any([g.interrupt(restore) for g in self.gestures])

    def _reset(self, templates, folder, files):
        self.interrupt(restore=False)  # its starting points are the old set's: never paste them into this one
        self.generation += 1
        self._recovery_written = None  # another set's: left for its own next opening
        self.folder = Path(folder) if folder is not None else None
        self.files = list(files)
        self._on_disk = self._stamps()
        self.undo.clear()
        self._set_templates(templates)

    def _stamps(self) -> dict:
        """The set folder's template files as this document last read or wrote them: {name: mtime_ns}."""
        if self.folder is None or not self.folder.is_dir():
            return {}
        try:
            return {f.name: f.stat().st_mtime_ns for f in template_files(self.folder)}
        except (OSError, GRCError):
            return {}

    def changed_on_disk(self) -> list[str]:
        """Template files of the set's folder added or changed by someone else since it was opened or saved
        (another `grc templates import`, an editor): saving the set as a whole would replace them."""
        if self.folder is None:
            return []
        return sorted(name for name, stamp in self._stamps().items() if self._on_disk.get(name) != stamp)

    def new_set(self, templates, untitled: str | None = None):
        """Start a template set from nothing (no model, no folder yet: Save asks where). Its autosave is
        `untitled-<id>.json` in the recovery folder (`untitled`: an id to go on with, when one is restored)."""
        self.model, self.model_path = None, None
        self._reset(templates, None, [])
        self.untitled = untitled or uuid.uuid4().hex[:12]
        self.undo.resetClean()  # saved nowhere yet: unsaved until Save (closing asks), even with every edit undone
        self.model_changed.emit()

    def set_model(self, model: GRCModel, path=None):
        """Swap in a (newly trained) model; saves it to `path` (atomically) when given."""
        if path is not None:
            model.save(path)
            self.model_path = Path(path)
        self.model = model
        self.model_changed.emit()

    # -- editing -------------------------------------------------------------------------------
    def _set_templates(self, templates, check: bool = True):
        """Show a template list; `check` (not during a live drag: the drag's end is checked) validates it."""
        self.templates = list(templates)
        if check:
            try:
                check_set(self.templates, self.folder)
                self.error = None
            except GRCError as e:
                self.error = str(e)
        self.templates_changed.emit()

    def edit(self, templates: list[Template], text: str, before: list[Template] | None = None):
        """Replace the template list as one undoable step (`before`: the list a live drag started from, which
        the gesture hands over once it has ended; any other edit first cancels a gesture under way)."""
        if before is None:
            shown = self.templates
            if self.interrupt():  # an action computed on the gesture's preview: the templates as they were instead
                back = {id(a): b for a, b in zip(shown, self.templates) if a is not b}
                templates = [back.get(id(t), t) for t in templates]
        self.undo.push(Snapshot(self, self.templates if before is None else before, templates, text))

    def set_points(self, k: int, points, text="Move points", live=False):
        """New points (T, M, N, 3) for template k; `live` shows them without an undo step (while dragging)."""
        templates = list(self.templates)
        if live:
            templates[k] = moved_template(templates[k], np.asarray(points, float))
            self._set_templates(templates, check=False)
        else:
            templates[k] = copy_template(templates[k], points=np.asarray(points, float))
            self.edit(templates, text)

    def model_differs(self) -> str | None:
        """How the set differs from the templates the model was trained on (reordered, others, edited since), or
        None when they are the same (or there is no model). Explore and Train say so until the set is retrained."""
        if self.model is None or not self.templates:
            return None
        trained = list(self.model.templates.templates)
        names, trained_names = [t.name for t in self.templates], [t.name for t in trained]
        if names != trained_names:
            if sorted(names) == sorted(trained_names):
                return f"the model was trained on the templates in another order ({', '.join(trained_names)})"
            return f"the model was trained on other templates ({', '.join(trained_names)})"
        for t, m in zip(self.templates, trained):
            same = all(a.shape == b.shape and np.allclose(a, b, rtol=0, atol=1e-9)
                       for a, b in ((t.points, m.points), (t.time, m.time), (t.morph, m.morph)))
            if not same:
                return f"the model was trained before {t.name} was edited"
        return None

    @property
    def dirty(self) -> bool:
        return not self.undo.isClean()

    @property
    def templates_read_only(self) -> bool:
        """The template folder is a bundled example (or there is none): saving asks where."""
        return self.folder is None or is_bundled(self.folder)

    @property
    def model_read_only(self) -> bool:
        return self.model_path is not None and is_bundled(self.model_path)

    @property
    def example(self) -> bool:
        """A bundled example is open (its files are never written)."""
        return any(p is not None and is_bundled(p) for p in (self.folder, self.model_path))

    # -- saving --------------------------------------------------------------------------------
    def save(self, folder=None) -> list[Path]:
        """Write the set to its folder as a whole (grc.templates.save_templates: the new set beside the old,
        read back, then swapped in; a failure leaves the old set as it was)."""
        self.interrupt()  # what is saved is what the screen shows once the gesture is gone
        folder = Path(folder or self.folder)
        if is_bundled(folder):
            raise GRCError("this is a bundled example; save a copy elsewhere (File > Save templates as…)", path=folder)
        if self.error:
            raise GRCError(f"not saved, the template set has a problem: {self.error}", path=folder)
        if self.folder is not None and folder.resolve() == self.folder.resolve():
            changed = self.changed_on_disk()
            if changed:
                raise GRCError(f"not saved: {', '.join(changed[:3])}{' …' if len(changed) > 3 else ''} changed in this "
                               "folder since the set was opened (another program); saving would replace it. Save as "
                               "another folder (File > Save templates as…), or reopen the set", path=folder)
        written = save_templates(folder, list(self.templates))
        self.folder, self.files = folder, written
        self._on_disk = self._stamps()
        self.undo.setClean()
        self.clear_recovery()
        return written

    def template_set(self):
        """The set as a grc.TemplateSet (what a training learns): a gesture under way is cancelled first."""
        from grc import TemplateSet

        self.interrupt()
        return TemplateSet([copy_template(t) for t in self.templates], self.folder)

    # -- recovery ------------------------------------------------------------------------------
    def recovery_path(self) -> Path:
        if self.folder is None and self.model_path is None:  # a new set, saved nowhere yet: its own file
            return recovery_folder() / f"{UNTITLED}{self.untitled}.json"
        source = str((self.folder or self.model_path).resolve())
        return recovery_folder() / (hashlib.sha1(source.encode()).hexdigest()[:16] + ".json")

    @staticmethod
    def untitled_recoveries() -> list[Path]:
        """Autosaves of new sets that were never saved, the latest first (found at start: nothing else names them)."""
        folder = recovery_folder()
        try:
            found = [p for p in folder.glob(f"{UNTITLED}*.json") if p.is_file()]
            return sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)
        except OSError:
            return []

    def _schedule_recovery(self, *args):
        self._recovery_timer.start()

    def write_recovery(self) -> bool:
        """Autosave the edited templates (or remove the recovery file once nothing is unsaved).

        A failure (folder not writable, disk full) is reported through `autosave_failed`; editing goes on.
        """
        try:
            if not self.dirty:
                self.clear_recovery()
                return True
            path = self.recovery_path()
            path.parent.mkdir(parents=True, exist_ok=True)
            data = {"source": str(self.folder or self.model_path or "a new template set"), "saved_at": clock.strftime("%Y-%m-%d %H:%M:%S"),
                    "templates": [t.to_json() for t in self.confirmed_templates()]}
            atomic_write(path, json.dumps(data))
            if self._recovery_written not in (None, path):  # the set was saved under another name meanwhile
                with contextlib.suppress(OSError):
                    self._recovery_written.unlink(missing_ok=True)
            self._recovery_written = path
        except (OSError, GRCError) as e:
            reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
            self.autosave_failed.emit(f"Autosave failed ({reason}) in {recovery_folder()}: save your edits")
            return False
        self.autosave_failed.emit("")
        return True

    def clear_recovery(self):
        """Remove this set's recovery file (and the one written under its earlier name, if it moved)."""
        self._recovery_timer.stop()
        for path in {self.recovery_path(), self._recovery_written} - {None}:
            try:
                path.unlink(missing_ok=True)
            except OSError:  # an unwritable recovery folder, or a folder in the file's place: left for later
                pass
        self._recovery_written = None

    def read_recovery(self, path=None) -> tuple[dict | None, str | None]:
        """(the recovery file's contents, None) if an earlier session left unsaved edits of this set (or in
        `path`); (None, message) for a damaged one, which is set aside as `<name>.damaged`; (None, None) if none."""
        path = self.recovery_path() if path is None else Path(path)
        if not (path.exists() or path.is_symlink()):
            return None, None
        try:
            data = parse_json(read_text(path, MAX_TEMPLATE_BYTES * 16, "recovery file"), path)
            if not isinstance(data, dict) or not isinstance(data.get("templates"), list):
                raise GRCError("expected an object with a list of templates", path=path)
            data["templates"] = [Template.from_json(t, path) for t in data["templates"]]
            if not data["templates"]:
                raise GRCError("holds no templates", path=path)
            return data, None
        except (ValueError, KeyError, TypeError, AttributeError, IndexError, RecursionError, GRCError) as e:
            try:
                aside = set_aside(path)
            except OSError as move:
                return None, f"The autosave {path} is damaged ({e}) and could not be set aside ({move.strerror}); it was ignored."
            return None, f"The autosave of these templates was damaged ({e}); it was set aside as {aside}."

    def pending_recovery(self) -> dict | None:
        """The recovery file's contents if an earlier session left unsaved edits of this set."""
        return self.read_recovery()[0]

    def restore(self, data: dict):
        """Put recovered templates back as one undoable (and unsaved) edit."""
        self.edit(data["templates"], "Restore unsaved edits")
