"""The Lineage tab: a tree of what the shown model and the set's templates came from.

A model's lineage is in its own file (`info["lineage"]`: the operation, its parents' fingerprints
and a flat list of earlier ancestors, grc.diverge.blend.lineage); a template's in its `lineage`
(grc.shapes.keep_as_template). A node whose model is a file in the same folder (a .grc whose
fingerprint matches, found by scanning that folder) opens on a double click.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PyQt5.QtCore import Qt, pyqtSignal
from PyQt5.QtWidgets import QHBoxLayout, QLabel, QPushButton, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from grc import GRCError
from grc.diverge.blend import lineage_of, model_id

MAX_SCAN = 64  # .grc files read from a folder to find a lineage's models
MAX_DEPTH = 24
SKIPPED = {"operation", "parents", "ancestry", "context_offsets", "look", "model_lineage", "genome", "search"}

_fingerprints: dict = {}  # (path, mtime, size) -> model_id: a folder is rescanned cheaply


def fingerprint(path) -> str | None:
    """The model_id of the model in the file at `path` (read once per version of the file), or None (unreadable)."""
    from grc import load_model

    try:
        stat = Path(path).stat()
        key = (str(path), stat.st_mtime_ns, stat.st_size)
        if key not in _fingerprints:
            _fingerprints[key] = model_id(load_model(path))
        return _fingerprints[key]
    except (GRCError, OSError, ValueError, KeyError, TypeError):
        return None


def scan_models(folder) -> dict[str, Path]:
    """{model fingerprint: path} of the .grc files in `folder` (at most MAX_SCAN; unreadable ones skipped)."""
    found = {}
    if folder is None or not Path(folder).is_dir():
        return found
    try:
        files = sorted(Path(folder).glob("*.grc"))[:MAX_SCAN]
    except OSError:
        return found
    for path in files:
        mid = fingerprint(path)
        if mid is not None:
            found.setdefault(mid, path)
    return found


@dataclass
class Node:
    text: str
    path: Path | None = None  # a model file to open
    children: list = field(default_factory=list)


def _details(record: dict) -> str:
    parts = []
    for key, value in record.items():
        if key in SKIPPED or key == "model":
            continue
        if isinstance(value, (list, tuple)):
            value = np.round(np.asarray(value, float), 3).tolist() if all(
                isinstance(v, (int, float)) for v in value) else value
        elif isinstance(value, float):
            value = round(value, 4)
        parts.append(f"{key} {value}")
    return ", ".join(parts)


def _model_node(mid: str, operation: str, ancestry: dict, files: dict, depth: int, seen: set) -> Node:
    path = files.get(mid)
    text = f"model {mid} · {operation}" + (f" · {path.name}" if path else "")
    node = Node(text, path)
    if depth < MAX_DEPTH and mid not in seen:
        entry = ancestry.get(mid, {})
        parents = entry.get("parents") if isinstance(entry, dict) else None
        for parent in parents if isinstance(parents, list) else []:
            if isinstance(parent, str):
                entry_of = ancestry.get(parent)
                operation = entry_of.get("operation", "train") if isinstance(entry_of, dict) else "train"
                node.children.append(_model_node(parent, operation,
                                                 ancestry, files, depth + 1, seen | {mid}))
    return node


def model_tree(model, path=None, files=None) -> Node:
    """The model and what it came from: its operation, parents and their ancestors (from the file). `path` is named
    only while the file holds this model (a model blend or rewrite not yet saved is still the parent's path's)."""
    files = files or {}
    mid = model_id(model)
    record = lineage_of(model.info.get("lineage"))
    operation = record.get("operation", "train")
    details = _details(record)
    if path is not None and fingerprint(path) != mid:
        path = None
    path = path or files.get(mid)  # a checkpoint saved beside the model is found by its fingerprint
    name = Path(path).name if path else "not saved"
    root = Node(f"This model {mid} ({name}) · {operation}" + (f": {details}" if details else ""), None)
    ancestry = {e.get("model"): e for e in record.get("ancestry", [])}
    for parent in record.get("parents", []):
        if isinstance(parent.get("model"), str):
            root.children.append(_model_node(parent["model"], parent.get("operation", "train"), ancestry, files, 1,
                                             {mid}))
    if not root.children:
        root.children.append(Node("trained from its templates (no parent model)"))
    return root


def template_tree(templates, files=None) -> Node:
    """The set's templates and, for those kept from a model, what they came from."""
    files = files or {}
    root = Node(f"Templates ({len(templates)})")
    for t in templates:
        lineage = getattr(t, "lineage", None) or {}
        if not lineage:
            root.children.append(Node(f"{t.name} · drawn or imported"))
            continue
        node = Node(f"{t.name} · {lineage.get('operation', 'kept')} from {lineage.get('source', '?')}"
                    + (f": {_details(lineage)}" if _details(lineage) else ""))
        if isinstance(lineage.get("model"), str):
            parent = lineage_of(lineage.get("model_lineage"))
            ancestry = {lineage["model"]: {"parents": [p.get("model") for p in parent.get("parents", [])]}}
            node.children.append(_model_node(lineage["model"], parent.get("operation") or "train", ancestry, files, 1,
                                             set()))
        if "genome" in lineage:
            node.children.append(Node(f"genome: blend {np.round(lineage['genome'].get('blend', []), 3).tolist()}, "
                                      f"path {np.round(lineage['genome'].get('path', []), 3).tolist()}"))
        root.children.append(node)
    return root


class LineagePanel(QWidget):
    """The lineage tree; a double click on a node with a file opens it."""

    open_file = pyqtSignal(str)

    def __init__(self, state, doc, parent=None):
        super().__init__(parent)
        self.state, self.doc = state, doc
        self.tree = QTreeWidget()
        self.tree.setHeaderHidden(True)
        self.open_button = QPushButton("Open")
        self.refresh_button = QPushButton("Refresh")
        self.note = QLabel("What the shown model and the templates came from. Models found beside the open "
                           "model (same folder, matching fingerprint) open on a double click.")
        self.note.setWordWrap(True)
        buttons = QHBoxLayout()
        buttons.addWidget(self.refresh_button)
        buttons.addWidget(self.open_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.note)
        layout.addWidget(self.tree, 1)
        layout.addLayout(buttons)
        self._shown = None
        self.refresh_button.clicked.connect(self.refresh)
        self.open_button.clicked.connect(lambda: self.open_item(self.tree.currentItem()))
        self.tree.itemDoubleClicked.connect(lambda item, column: self.open_item(item))
        doc.model_changed.connect(self._changed)
        doc.templates_changed.connect(self._changed)
        state.changed.connect(self._state_changed)

    def _changed(self):
        if self.isVisible():  # else when shown (a template drag does not rescan the folder)
            self.refresh()

    def _state_changed(self):
        if self.state.model is not self._shown:  # another model, or a checkpoint scrubbed in
            self._changed()

    def showEvent(self, event):
        super().showEvent(event)
        self.refresh()

    def folder(self):
        where = self.doc.model_path or self.doc.folder
        return Path(where).parent if where is not None else None

    def nodes(self) -> list[Node]:
        files = scan_models(self.folder())
        out = []
        model = self.state.model or self.doc.model
        if model is not None:
            path = self.doc.model_path if model is self.doc.model else None
            out.append(model_tree(model, path, files))
        out.append(template_tree(self.doc.templates, files))
        return out

    def refresh(self):
        self._shown = self.state.model
        self.tree.clear()

        def add(parent, node):
            item = QTreeWidgetItem([node.text])
            item.setToolTip(0, node.text)  # the whole row on hover: one too long for the panel ends in "…"
            if node.path is not None:
                item.setData(0, Qt.UserRole, str(node.path))
                item.setToolTip(0, f"{node.text}\n{node.path}: double-click to open")
                font = item.font(0)
                font.setUnderline(True)
                item.setFont(0, font)
            parent.addChild(item) if isinstance(parent, QTreeWidgetItem) else parent.addTopLevelItem(item)
            for child in node.children:
                add(item, child)
            return item

        for node in self.nodes():
            add(self.tree, node)
        self.tree.expandAll()

    def items(self) -> list[QTreeWidgetItem]:
        out = []

        def walk(item):
            out.append(item)
            for i in range(item.childCount()):
                walk(item.child(i))

        for i in range(self.tree.topLevelItemCount()):
            walk(self.tree.topLevelItem(i))
        return out

    def open_item(self, item):
        path = item.data(0, Qt.UserRole) if item is not None else None
        if path:
            self.open_file.emit(path)
