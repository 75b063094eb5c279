"""The app's evented models: what is being explored (ExploreState) and what is open (Document).

Widgets change these through their setters; views subscribe to their signals. No maths here:
shapes and contexts come from the GRCModel.
"""

from __future__ import annotations

import hashlib
import json
import os
import time as clock
from pathlib import Path

import numpy as np
from PyQt5.QtCore import QObject, QTimer, pyqtSignal
from PyQt5.QtWidgets import QUndoCommand, QUndoStack

from grc import GRCError, GRCModel, Template, load_model
from grc.io import atomic_write
from grc.templates import check_set, load_template, template_filename

PAD_SAMPLES = 64  # morph samples of the context pad's curves (and of a drawn context path)
BLEND_RANGE = (-1.5, 2.5)  # what the blend slider and the context pad reach (two templates: α)
WEIGHT_RANGE = (-1.0, 2.0)  # each template's weight (three or more templates)


class ExploreState(QObject):
    """Time, blend, an optional drawn context path, and the view options of the 3D view."""

    changed = pyqtSignal()  # the shape changed (time, blend, context path)
    view_changed = pyqtSignal()  # subdivision, grid, petals, thickness

    def __init__(self):
        super().__init__()
        self.model: GRCModel | None = None
        self.time = 0.0
        self.weights = np.zeros(2)  # one weight per template (blend = alpha = weights[1] for two)
        self.path = None  # a drawn context path: (PAD_SAMPLES, C) over pad_morph(), or None
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
            if self.path is not None and (old is None or old.context_dims != model.context_dims):
                self.path = None
        self.changed.emit()

    @property
    def blend(self):
        """The blend as model.shape takes it: α for two templates, else the K weights."""
        return float(self.weights[1]) if len(self.weights) == 2 else self.weights.copy()

    def pad_morph(self) -> np.ndarray:
        return self.model.morph_samples(PAD_SAMPLES)

    # -- setters (each emits `changed`) ----------------------------------------------------------
    def set_time(self, time: float):
        self.time = float(time)
        self.changed.emit()

    def set_blend(self, blend):
        """α (two templates) or K weights; returns to the blend's own context path."""
        self.weights = self.model.blend_weights(blend).astype(float) if self.model else np.atleast_1d(blend)
        self.path = None
        self.changed.emit()

    def set_weight(self, k: int, value: float):
        w = self.weights.copy()
        w[k] = value
        if len(w) == 2:
            w[1 - k] = 1 - value
        self.set_blend(w)

    def set_path(self, path):
        """A drawn context path over pad_morph(), (PAD_SAMPLES, C); None returns to the blend."""
        self.path = None if path is None else np.array(path, dtype=float)
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
        if self.path is None:
            return self.blend_context(morph)
        samples, pad = self.model.morph_samples(morph), self.pad_morph()
        return np.stack([np.interp(samples, pad, self.path[:, c]) for c in range(self.path.shape[1])], axis=1)

    def shape_args(self) -> dict:
        """Arguments for model.shape / grc.shapes.export that give the shape on screen."""
        args = dict(time=self.time, blend=self.blend)
        if self.path is not None:
            args["context"] = self.context()
        return args

    def grid(self) -> np.ndarray:
        """The current shape: (M, N, 3)."""
        args = self.shape_args()
        return self.model.shape(args.pop("time"), args.pop("blend"), **args)


# ---------------------------------------------------------------------------------------------


def recovery_folder() -> Path:
    return Path(os.environ.get("GRC_STUDIO_RECOVERY", Path.home() / ".cache" / "grc-studio" / "recovery"))


class Snapshot(QUndoCommand):
    """Every template edit is a swap of the whole template list (they are small)."""

    def __init__(self, doc: "Document", before: list[Template], after: list[Template], text: str):
        super().__init__(text)
        self.doc, self.before, self.after = doc, list(before), list(after)

    def redo(self):
        self.doc._set_templates(self.after)

    def undo(self):
        self.doc._set_templates(self.before)


def copy_template(t: Template, name: str | None = None, points=None) -> Template:
    return Template(t.name if name is None else name, t.time.copy(), t.morph.copy(),
                    (t.points if points is None else points).copy(), t.attribution)


class Document(QObject):
    """What is open: the model (if any), the template set being sketched, its folder, undo history.

    Template edits go through `edit()` (one undoable step); the set is validated after each one
    and autosaved to a recovery file until it is saved.
    """

    model_changed = pyqtSignal()
    templates_changed = pyqtSignal()
    dirty_changed = pyqtSignal(bool)

    def __init__(self):
        super().__init__()
        self.model: GRCModel | None = None
        self.model_path: Path | None = None
        self.templates: list[Template] = []
        self.folder: Path | None = None  # where the templates are saved
        self.files: list[Path] = []  # the template files last read or written there
        self.error: str | None = None  # why the set cannot be trained or saved, or None
        self.undo = QUndoStack(self)
        self.undo.cleanChanged.connect(lambda clean: self.dirty_changed.emit(not clean))
        self.undo.indexChanged.connect(self._schedule_recovery)
        self._recovery_timer = QTimer(self, singleShot=True, interval=500)
        self._recovery_timer.timeout.connect(self.write_recovery)

    # -- opening -------------------------------------------------------------------------------
    def open_model(self, path, folder=None):
        """Open a .grc model; its templates become the set to sketch (saved to `folder`)."""
        model = load_model(path)  # raises GRCError on a damaged file; nothing changes then
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
        files = sorted(folder.glob("*.json"))
        if not files:
            raise GRCError("no template .json files in this folder", path=folder)
        return [load_template(f) for f in files], files

    def _reset(self, templates, folder, files):
        self.folder = Path(folder) if folder is not None else None
        self.files = list(files)
        self.undo.clear()
        self._set_templates(templates)

    def set_model(self, model: GRCModel, path=None):
        """Swap in a (newly trained) model; saves it to `path` (atomically) when given."""
        if path is not None:
            model.save(path)
            self.model_path = Path(path)
        self.model = model
        self.model_changed.emit()

    # -- editing -------------------------------------------------------------------------------
    def _set_templates(self, templates):
        self.templates = list(templates)
        try:
            check_set(self.templates, self.folder)
            self.error = None
        except GRCError as e:
            self.error = str(e)
        self.templates_changed.emit()

    def edit(self, templates: list[Template], text: str, before: list[Template] | None = None):
        """Replace the template list as one undoable step (`before`: the list a live drag started from)."""
        self.undo.push(Snapshot(self, self.templates if before is None else before, templates, text))

    def set_points(self, k: int, points, text="Move points", live=False):
        """New points (T, M, N, 3) for template k; `live` shows them without an undo step (while dragging)."""
        templates = list(self.templates)
        templates[k] = copy_template(templates[k], points=np.asarray(points, float))
        if live:
            self._set_templates(templates)
        else:
            self.edit(templates, text)

    @property
    def dirty(self) -> bool:
        return not self.undo.isClean()

    # -- saving --------------------------------------------------------------------------------
    def save(self, folder=None) -> list[Path]:
        """Write the set to its folder as `<i>-<name>.json` (atomic per file), removing files it replaced."""
        folder = Path(folder or self.folder)
        if self.error:
            raise GRCError(f"not saved, the template set has a problem: {self.error}", path=folder)
        folder.mkdir(parents=True, exist_ok=True)
        written = [t.save(folder / template_filename(i, t.name)) for i, t in enumerate(self.templates)]
        for old in self.files:
            if old.parent == folder and old not in written and old.exists():
                old.unlink()
        self.folder, self.files = folder, written
        self.undo.setClean()
        self.clear_recovery()
        return written

    def template_set(self):
        from grc import TemplateSet

        return TemplateSet([copy_template(t) for t in self.templates], self.folder)

    # -- recovery ------------------------------------------------------------------------------
    def recovery_path(self) -> Path:
        source = str((self.folder or self.model_path or Path("untitled")).resolve())
        return recovery_folder() / (hashlib.sha1(source.encode()).hexdigest()[:16] + ".json")

    def _schedule_recovery(self, *args):
        self._recovery_timer.start()

    def write_recovery(self):
        """Autosave the edited templates (or remove the recovery file once nothing is unsaved)."""
        if not self.dirty:
            self.clear_recovery()
            return
        path = self.recovery_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {"source": str(self.folder or self.model_path), "saved_at": clock.strftime("%Y-%m-%d %H:%M:%S"),
                "templates": [t.to_json() for t in self.templates]}
        atomic_write(path, json.dumps(data))

    def clear_recovery(self):
        self._recovery_timer.stop()
        self.recovery_path().unlink(missing_ok=True)

    def pending_recovery(self) -> dict | None:
        """The recovery file's contents if an earlier session left unsaved edits of this set."""
        path = self.recovery_path()
        if not path.exists():
            return None
        try:
            data = json.loads(path.read_text())
            data["templates"] = [Template.from_json(t, path) for t in data["templates"]]
            return data
        except (ValueError, KeyError, TypeError, GRCError):
            return None

    def restore(self, data: dict):
        """Put recovered templates back as one undoable (and unsaved) edit."""
        self.edit(data["templates"], "Restore unsaved edits")
