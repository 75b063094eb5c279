"""Beyond the templates in the Explore tab: the live verdict (chip), broken faces, the pad's shading,
the safe blend range, and the look / rewrite that the shape on screen goes through.

`Beyond` is the controller: it owns the model's Coherence, the current look (grc.diverge.bend.Look),
a rewrite preview and the undo stack of model replacements (rewrites, model blends). The shape the
3D view and the exports show is `Beyond.grid()` = grc.shapes.shape_of(model, time, blend, look=...).

The live check (Coherence.check at subdivision 2, ~1-15 ms on these machines) runs on coalesced
timers (once the shape has held still for 60 ms), never inside a slider move; the pad's shading (a batch of verdicts over the
blend at this time, Coherence.verdicts, and safe_blend_ranges) runs in a background thread once
the time holds still; for three templates the same thread shades the weight triangle instead (verdicts over
a lattice of weights covering what the weight sliders reach, gui/weight_triangle.py).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
from PyQt5.QtCore import QObject, Qt, QTimer, pyqtSignal
from PyQt5.QtWidgets import QLayout, QUndoCommand, QUndoStack
from scipy.optimize import nnls

from grc import GRCError
from grc.coherence import Check, Coherence, blend_region, blend_weights, model_shapes, safe_range
from grc.shapes import shape_of

from .state import BLEND_RANGE, WEIGHT_RANGE

# The live check costs 1-15 ms here, more than a slider move may add (frame <= baseline + 5 ms), so it
# never runs inside a move: once the shape has held still CHECK_STILL_MS, and while it keeps moving at
# most every CHECK_MOVING_MS (one frame in ~30 while scrubbing pays for it).
CHECK_STILL_MS = 60
CHECK_MOVING_MS = 0  # 0: no check while the shape moves (a check costs 1.5-16 ms: it showed in the frame's p95)
BANDS_AFTER_MS = 400  # the pad's shading is computed once the time has held still this long
BAND_STEP = 0.05  # blends of the pad's shading (two templates), as the safe range's steps
VERDICT_COLORS = {"coherent": "#2e8b57", "strained": "#d08000", "broken": "#c00000"}
# the weight triangle's shading (three templates): a blend every TRIANGLE_STEP of each weight over what the
# sliders reach, 453 blends; 0.4-0.8 s at subdivision 2 on the trained leaf here (0.1: 696 blends, up to 1.2 s;
# docs/gui.md)
BROKE_MORE = 0.1  # a model change that breaks this share more of the blends shaded at this time says so
TRIANGLE_STEP = 0.125
TRIANGLE_CHUNK = 25  # blends per batch of verdicts (the thread checks between batches whether it is superseded)
# a drawn context path is between the templates while every row of it keeps within this share of the traces' widest
# gap (over the templates' time steps) of the traces there (of the blends between them)
PATH_NEAR = 0.05


@dataclass
class ShapeCheck(Check):
    """Coherence's check of the shape on screen, and where that shape lies: "between templates" or "beyond"
    (Beyond.where: its blend, a drawn path, a previewed model)."""

    where: str = "between templates"


def path_distance(traces, path) -> np.ndarray:
    """How far each row of a context path lies from the blends between the templates' traces there (their convex
    hull: weights in [0, 1] summing to 1): traces (K, M, C), path (M, C) -> (M,)."""
    traces, path = np.asarray(traces, float), np.asarray(path, float)
    big = 1e3 * (1 + np.abs(traces).max())  # (the weights' sum to 1, weighted far above any distance)
    out = np.empty(len(path))
    for m in range(len(path)):
        A = np.vstack([traces[:, m].T, np.full((1, len(traces)), big)])  # (C + 1, K)
        w = nnls(A, np.append(path[m], big))[0]
        out[m] = np.linalg.norm(traces[:, m].T @ (w / w.sum()) - path[m])
    return out


def triangle_weights(step: float = TRIANGLE_STEP, low: float = WEIGHT_RANGE[0], high: float = WEIGHT_RANGE[1]):
    """The lattice of three-template blends the weight triangle is shaded at: every `step` of each weight,
    summing to 1, each in [low, high] (the corners and the templates' triangle lie on it): (S, 3)."""
    n = int(round((high - low) / step))
    i, j = np.meshgrid(np.arange(n + 1), np.arange(n + 1), indexing="ij")
    w0, w1 = np.round(low + i * step, 10), np.round(low + j * step, 10)
    w2 = np.round(1 - w0 - w1, 10)
    inside = (w2 >= low - 1e-9) & (w2 <= high + 1e-9)
    return np.stack([w0[inside], w1[inside], w2[inside]], axis=1)


def chip_text(check: Check | None, weights, bent: bool = False) -> tuple[str, str]:
    """What the chip says, and its colour: "between templates" / "beyond: coherent" / "bent: coherent" /
    "strained" / "broken", with the novelty value. A shape through active bends is not between the
    templates, whatever its blend (`bent`); nor is one whose check says it lies beyond (a ShapeCheck: a drawn path
    off the traces, a previewed model's shape), whatever its weights."""
    if check is None:
        return "—", "#666666"
    where = getattr(check, "where", None) or blend_region(weights)
    if check.verdict == "broken":
        word, color = "broken", VERDICT_COLORS["broken"]
    elif check.verdict == "strained":
        word, color = "strained", VERDICT_COLORS["strained"]
    elif bent:
        word, color = "bent: coherent", VERDICT_COLORS["coherent"]
    elif where == "between templates":
        word, color = "between templates", "#305080"
    else:
        word, color = "beyond: coherent", VERDICT_COLORS["coherent"]
    return f"{word} · novelty {check.novelty:.3f}", color


class ModelSwap(QUndoCommand):
    """A model replaced by another (a rewrite, a model blend): undo puts the previous one back."""

    def __init__(self, beyond: "Beyond", before, after, text):
        super().__init__(text)
        self.beyond, self.before, self.after = beyond, before, after

    def redo(self):
        self.beyond._put_model(self.after)

    def undo(self):
        self.beyond._put_model(self.before)
        bar = self.beyond.window.statusBar()
        if "takes it back" in bar.currentMessage():  # (it told how to undo this: done, the message goes)
            bar.clearMessage()


class Superseded(Exception):
    """A newer shading was asked for while this one ran."""


def weight_safe_ranges(weights, broken, step: float = BAND_STEP) -> list | None:
    """For each template's weight slider (three or more templates), how far it goes from where it is, the others'
    weights as they are, without a broken shape: [low, high] within WEIGHT_RANGE in steps of `step`, or None where
    the shape at the current weights is broken. `broken(weights (S, K)) -> (S,) bool`, or None once superseded
    (then this returns None). (With the others equal this is `grc evaluate`'s safe_blend_range along the template's
    direction, shifted: a shape depends on the weights' differences only, grc.coherence.model_shapes.)"""
    weights = np.asarray(weights, float)
    K = len(weights)

    def check(k, values):
        w = np.repeat(weights[None], len(values), axis=0)
        w[:, k] = values
        out = broken(w)
        if out is None:
            raise Superseded
        return np.asarray(out, bool)

    def along(k):
        v = float(weights[k])
        ends = []
        for sign, edge in ((-1, WEIGHT_RANGE[0]), (1, WEIGHT_RANGE[1])):
            n = int(np.floor(abs(edge - v) / step + 1e-9))
            values = [*(v + sign * step * np.arange(1, n + 1))] + ([edge] if abs(edge - v) > n * step + 1e-9 else [])
            end = v
            for start in range(0, len(values), 10):  # outwards ten steps at a time: a range that ends early costs little
                chunk = np.array(values[start:start + 10])
                hit = check(k, chunk)
                if hit.any():
                    i = int(np.argmax(hit))
                    end = float(chunk[i - 1]) if i > 0 else end
                    break
                end = float(chunk[-1])
            ends.append(round(end, 6))
        return ends

    try:
        if check(0, weights[:1])[0]:  # (the shape at the weights as they are)
            return [None] * K
        return [along(k) for k in range(K)]
    except Superseded:
        return None


class Beyond(QObject):
    checked = pyqtSignal(object)  # the current shape's Check (or None without a model)
    pending = pyqtSignal()  # the shape changed since the last check: the chip waits (it shows it dimmed)
    bands_ready = pyqtSignal(object)  # dict(model, time, alphas, codes, novelty, safe) from the background
    triangle_ready = pyqtSignal(object)  # three templates: dict(model, time, step, weights, codes, novelty)
    look_changed = pyqtSignal()

    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.state, self.doc = window.state, window.doc
        self.look = None  # grc.diverge.bend.Look or None
        self._preview = None  # a model shown instead of the state's (a rewrite drag's, a model blend's): `preview`
        self._own = None  # the state's model's shading and safe ranges while a preview is shown (back at its end)
        self._gap = None  # (model, the widest gap between its traces over the templates' time steps)
        self.check: Check | None = None
        self.bands = None
        self.triangle = None  # the weight triangle's shading (three templates), as triangle_ready gives it
        self.undo = QUndoStack(self)
        self._swapping = False  # a swap of this stack's own is changing the document's model
        self._stopped = False
        self._coherence = None  # (templates, Coherence)
        self._timer = QTimer(self, singleShot=True, interval=CHECK_STILL_MS, timeout=self.run_check)
        self._moving_timer = QTimer(self, singleShot=True, interval=CHECK_MOVING_MS, timeout=self.run_check)
        self._bands_timer = QTimer(self, singleShot=True, interval=BANDS_AFTER_MS, timeout=self._start_bands)
        self._bands_for = None
        self._generation = 0
        self.playing = False  # Play runs: the check follows every frame (playback is no drag: its frames may pay)
        self._current = False  # the chip shows the shape on screen (no change since the last check)
        self._safe_time = None  # the time the safe range said beside the blend slider is for
        self._safe_blend = None  # and the blend the weight sliders' ranges are for (three or more templates)
        self._compare = None  # (new model, time, share of its blends broken before, what changed it): replace_model
        self.state.changed.connect(self._shape_changed)
        self.state.view_changed.connect(self._shape_changed)
        self.doc.model_changed.connect(self._model_changed)
        self.bands_ready.connect(self._bands_arrived)
        self.triangle_ready.connect(self._triangle_arrived)

    # -- the shape on screen -----------------------------------------------------------------------
    @property
    def model(self):
        return self._preview if self._preview is not None else self.state.model

    @property
    def preview(self):
        """A model shown instead of the state's: a rewrite drag's, or a model blend's while Blend models… previews it
        (None: the state's). The chip, the pad's shading and the safe range describe it while it is shown."""
        return self._preview

    @preview.setter
    def preview(self, model):
        if model is self._preview:
            return
        before, self._preview = self._preview, model
        self._shown_changed(before)

    def _shown_changed(self, before):
        """Another model is shown (a preview began, moved on or ended): the pad's shading and the safe range said were
        another model's. A preview's are computed once it holds still (as for a time move); when it ends, the model's
        own come back at once (kept from when it began, if the time and look are still theirs)."""
        if self._stopped:
            return
        if before is None:
            self._own = (self._bands_for, self.bands, self.triangle, self._safe_time, self._safe_blend,
                         self.window.explore_panel.safe_said())
        self._generation += 1  # a shading under way is another model's: not shown
        self._bands_for = None
        own = self._own if self._preview is None else None
        if self._preview is None:
            self._own = None
        key = None if own is None else own[0]
        shaded = None if own is None else own[1] if own[1] is not None else own[2]
        # (only a shading that had arrived comes back: one still under way when the preview began was dropped
        # above, and keeping its key would keep it from being computed again)
        if key is not None and key[0] is self.state.model and key[1] == self.state.time and key[3] == self.look_key() \
                and shaded is not None and shaded["model"] is key[0] and shaded["time"] == key[1]:
            self._bands_for, self.bands, self.triangle, self._safe_time, self._safe_blend, said = own
            self._show_shading()
            self.window.explore_panel.set_safe_range(*said)
            return
        self._safe_time = self._safe_blend = None
        if self.bands is not None or self.triangle is not None:
            self.bands = self.triangle = None
            self._show_shading()
        self._say_safe(None, known=False)
        self._bands_timer.start()

    def _show_shading(self):
        self.window.explore_panel.pad.set_bands(self.bands)
        self._shade_triangle(self.triangle)

    def _shade_triangle(self, shading):
        """The weight triangle (three templates) shaded as `shading` says (a lattice still without verdicts: none)."""
        triangle = getattr(self.window.explore_panel, "triangle", None)
        if triangle is not None:
            triangle.set_shading(shading if shading is None or shading["codes"] is not None else None)

    def _say_safe(self, safe, known=True, keep=None):
        self.window.explore_panel.set_safe_range(safe, known, keep, previewed=self._preview is not None)

    def where(self, grid) -> str:
        """Where the shape on screen (`grid`) lies: "between templates" or "beyond". A blend is between while every
        weight is in [0, 1]; a drawn path while each of its rows keeps near the blends between the traces there
        (within PATH_NEAR of their widest gap); a previewed model's shape while it is the state's model's own."""
        state, model = self.state, self.model
        if state.offsets is None or model.context_dims == 0:
            where = blend_region(state.weights)
        else:
            traces = model.traces(state.time)[:, 0]  # (K, M, C) at the shape's rows
            near = PATH_NEAR * self.trace_gap(model)
            where = "between templates" if path_distance(traces, state.context()).max() <= near else "beyond"
        if where == "between templates" and self._preview is not None and self._preview is not state.model:
            args = state.shape_args()
            try:
                own = shape_of(state.model, args.pop("time"), args.pop("blend"), context=args.get("context"),
                               look=self.active_look())
            except GRCError:  # (the model's own shape is not finite there: the preview's is another)
                own = None
            if own is None or not np.allclose(grid, own, rtol=1e-6, atol=1e-9):
                where = "beyond"
        return where

    def trace_gap(self, model) -> float:
        """The widest gap between the templates' traces over their time steps and rows (context units)."""
        if self._gap is None or self._gap[0] is not model:
            traces = model.traces()  # (K, T, M, C)
            self._gap = (model, float(np.linalg.norm(traces.max(axis=0) - traces.min(axis=0), axis=-1).max()))
        return self._gap[1]

    def grid(self, look=False) -> np.ndarray:
        """The shape on screen: the model (or the rewrite preview) at the state's time and blend or
        drawn path, through the look (or through `look`, a Look or None, for what it would be)."""
        args = self.state.shape_args()
        return shape_of(self.model, args.pop("time"), args.pop("blend"), context=args.get("context"),
                        look=self.active_look() if look is False else look)

    def active_look(self):
        return self.look if self.look is not None and self.look.bends else None

    def bent(self) -> bool:
        """Whether the shape on screen goes through a bend that changes it (a strength other than 0)."""
        look = self.active_look()
        return look is not None and any(b.strength != 0 for b in look.bends)

    def show_look(self, look):
        """Put a look in the Bend panel (its bends as rows) and apply it: the Gallery opens shapes so."""
        self.window.bend_panel.set_look(look)

    def set_look(self, look):
        self.look = look
        self._bands_for = None
        self._generation += 1  # a shading under way is the old look's: not shown
        if self._safe_time is not None or self._safe_blend is not None:  # nor the safe ranges said for it
            self._safe_time = self._safe_blend = None
            self._say_safe(None, known=False)
        self.look_changed.emit()
        self.state.changed.emit()  # the shape changed: redraw, check, shade again

    def coherence(self) -> Coherence | None:
        model = self.state.model
        if model is None:
            return None
        if self._coherence is None or self._coherence[0] is not model.templates:
            self._coherence = (model.templates, Coherence.for_model(model, subdivide=2))
        return self._coherence[1]

    # -- the live check ------------------------------------------------------------------------------
    def _shape_changed(self):
        if self._stopped:
            return  # the window is closing: a late state change starts nothing
        self._timer.start(0 if self.playing else CHECK_STILL_MS)  # restarted: once the shape holds still
        if CHECK_MOVING_MS and not self._moving_timer.isActive():
            self._moving_timer.start()  # not restarted: while scrubbing it still runs every CHECK_MOVING_MS
        self._bands_timer.start()  # restarted: the shading waits until the time holds still
        if self._current and not self.playing:  # (once per move, not per frame; Play's frames are each checked)
            self._current = False
            self.pending.emit()
        if self._safe_time is not None and self._safe_time != self.state.time:
            self._safe_time = self._safe_blend = None  # the safe range said is another time's: said to wait, and
            self._bands_for = None  # computed again (also where the time comes back to the one it was for)
            self._say_safe(None, known=False)
        elif self._safe_blend is not None and len(self._safe_blend) == len(self.state.weights) \
                and not np.allclose(self._safe_blend, self.state.weights):
            # the weight sliders' ranges were said for another blend: one slider moved keeps its own (its path is as
            # it was), the others' wait; computed again once the blend holds still
            moved = np.flatnonzero(~np.isclose(self._safe_blend, self.state.weights))
            self._safe_blend = None
            self._say_safe(self.window.explore_panel.safe, known=False, keep=int(moved[0]) if len(moved) == 1 else None)

    def set_playing(self, playing: bool):
        """Play started or stopped: while it runs, each frame's shape is checked as it shows (the last one's too)."""
        self.playing = bool(playing)

    def _model_changed(self):
        if not self._swapping:  # another model opened, a new set, a training's result: the old swaps are history
            self.undo.clear()
        self._bands_for = None
        self._shape_changed()

    def run_check(self):
        """Check the shape on screen now: the chip, the red faces and the camera follow (`checked`)."""
        self._timer.stop()
        self._moving_timer.stop()
        coherence = self.coherence()
        if coherence is None:
            self.check = None
        else:
            with np.errstate(all="ignore"):
                grid = self.grid()
            self.check = None
            if np.isfinite(grid).all():
                check = coherence.check(grid, self.state.time)
                with np.errstate(all="ignore"):
                    self.check = ShapeCheck(**vars(check), where=self.where(grid))
        self._current = True
        self.checked.emit(self.check)
        return self.check

    # -- the pad's shading (background) ------------------------------------------------------------
    def _start_bands(self):
        model = self.model  # (a preview's, while one is shown)
        if model is not None and len(model.templates) >= 3 and model.context_dims > 0:
            self._start_shading(model, self._compute_triangle, "triangle verdicts", blend=tuple(self.state.weights))
        elif self.triangle is not None:
            self.triangle = None
            self.triangle_ready.emit(None)
        if model is None or len(model.templates) != 2 or model.context_dims == 0:
            if self.bands is not None:
                self.bands = None
                self.bands_ready.emit(None)
            return
        self._start_shading(model, self._compute_bands, "pad verdicts")

    def _start_shading(self, model, compute, name: str, blend=None):
        """The pad's (two templates) or the weight triangle's and weight sliders' (three or more) shading, `compute`,
        in a thread of its own, once per model, time, look (and `blend`, for the sliders' safe ranges); a newer start
        or stop() supersedes it (the generation)."""
        key = (model, self.state.time, id(self.look), self.look_key(), blend)
        if key == self._bands_for:
            return
        self._bands_for = key
        self._generation += 1
        generation, coherence, time, look = self._generation, self.coherence(), self.state.time, self.active_look()
        args = (generation, model, coherence, time, look) + (() if blend is None else (np.array(blend), key[3]))
        thread = threading.Thread(target=compute, args=args, name=name, daemon=True)
        self.bands_thread = thread
        thread.start()

    def stop(self):
        """The window closes: no more checks, and a shading thread still running ends at its next chunk."""
        self._stopped = True
        for timer in (self._timer, self._moving_timer, self._bands_timer):
            timer.stop()
        self._generation += 1
        thread = getattr(self, "bands_thread", None)
        if thread is not None:
            thread.join(2.0)

    def look_key(self):
        look = self.active_look()
        return None if look is None else str(look.to_json())

    def _verdicts(self, generation, coherence, time, shapes, blends, chunk: int):
        """Verdict codes and novelty of `shapes(blends[i:i + chunk])` for every chunk (numpy releases the GIL
        meanwhile), a shape that is not finite counted broken: (codes, novelty), or None once superseded."""
        codes, novelty = [], []
        with np.errstate(all="ignore"):
            for start in range(0, len(blends), chunk):
                if generation != self._generation:
                    return None
                grids = shapes(blends[start:start + chunk])
                finite = np.isfinite(grids).all(axis=(1, 2, 3))
                c, n = coherence.verdicts(np.where(finite[:, None, None, None], grids, 0.0), time)
                codes.append(np.where(finite, c, 2))
                novelty.append(n)
        return np.concatenate(codes), np.concatenate(novelty)

    def _deliver(self, generation, signal: str, value):
        """Hand a shading to the GUI thread (through the signal named `signal`), unless a newer one was asked for
        meanwhile."""
        try:
            if generation == self._generation:
                getattr(self, signal).emit(value)
        except RuntimeError:  # the window closed meanwhile (its Qt object is gone): no one to tell
            pass

    def _compute_bands(self, generation, model, coherence, time, look):
        """Verdicts of the blends the pad reaches at this time, in chunks (numpy releases the GIL)."""
        alphas = np.round(np.arange(BLEND_RANGE[0], BLEND_RANGE[1] + BAND_STEP / 2, BAND_STEP), 10)

        def shapes(values):
            if look is None:
                return model_shapes(model, time, blend_weights(2, values))
            return np.stack([shape_of(model, time, float(a), look=look) for a in values])

        verdicts = self._verdicts(generation, coherence, time, shapes, alphas, 10)
        if verdicts is None:
            return  # superseded
        codes, novelty = verdicts
        by_alpha = dict(zip(np.round(alphas, 6), codes))

        def broken_at(values):
            out = []
            for v in np.round(values, 6):
                out.append(by_alpha[v] == 2 if v in by_alpha else bool(coherence.broken(shapes([v]))[0]))
            return np.array(out)

        with np.errstate(all="ignore"):
            safe = safe_range(broken_at, BAND_STEP, min(-BLEND_RANGE[0], BLEND_RANGE[1] - 1))
        bands = dict(model=model, time=time, alphas=alphas, codes=codes, novelty=novelty, safe=safe)
        self._deliver(generation, "bands_ready", bands)

    def _bands_arrived(self, bands):
        if bands is not None and (bands["model"] is not self.model or bands["time"] != self.state.time):
            return  # the time moved on meanwhile; the timer asks again
        self.bands = bands
        self._compared(bands)
        self._safe_time = None if bands is None else bands["time"]
        self.window.explore_panel.pad.set_bands(bands)
        self._say_safe(None if bands is None else bands["safe"], bands is not None)

    # -- the weight triangle's shading (three templates, background) ------------------------------------
    def _compute_triangle(self, generation, model, coherence, time, look, blend, look_key):
        """Verdicts of the lattice of blends (triangle_weights; three templates) at this time, in chunks (once per
        time and look: a blend move keeps them), then how far each weight's slider goes from `blend` without a
        broken shape (three or more: `weight_safe_ranges`)."""
        K = len(model.templates)

        def shapes(chunk):
            if look is None:
                return model_shapes(model, time, chunk)
            return np.stack([shape_of(model, time, w, look=look) for w in chunk])

        shading = dict(model=model, time=time, look=look_key, step=TRIANGLE_STEP, weights=None, codes=None,
                       novelty=None)
        last = self.triangle  # (the GUI thread's latest: replaced whole, never changed in place)
        if K == 3 and last is not None and last["model"] is model and last["time"] == time and last["look"] == look_key \
                and last["codes"] is not None:
            shading.update(weights=last["weights"], codes=last["codes"], novelty=last["novelty"])  # the blend moved
        elif K == 3:
            weights = triangle_weights(TRIANGLE_STEP)
            verdicts = self._verdicts(generation, coherence, time, shapes, weights, TRIANGLE_CHUNK)
            if verdicts is None:
                return  # superseded
            shading.update(weights=weights, codes=verdicts[0], novelty=verdicts[1])
            self._deliver(generation, "triangle_ready", dict(shading, safe=None))  # the lattice first
        safe = weight_safe_ranges(blend, lambda w: self._broken(generation, coherence, shapes, w))
        if safe is None:
            return  # superseded
        self._deliver(generation, "triangle_ready", dict(shading, safe=safe, blend=blend))

    def _broken(self, generation, coherence, shapes, weights):
        """Which of the shapes of `weights` (S, K) are broken (one not finite counts), or None once superseded."""
        if generation != self._generation:
            return None
        with np.errstate(all="ignore"):
            grids = shapes(weights)
            finite = np.isfinite(grids).all(axis=(1, 2, 3))
            return ~finite | coherence.broken(np.where(finite[:, None, None, None], grids, 0.0))

    def _triangle_arrived(self, shading):
        if shading is not None and (shading["model"] is not self.model or shading["time"] != self.state.time):
            return  # the time moved on meanwhile; the timer asks again
        self.triangle = shading
        self._compared(shading)
        self._shade_triangle(shading)
        if shading is not None and shading["safe"] is not None and np.allclose(shading["blend"], self.state.weights):
            self._safe_time, self._safe_blend = shading["time"], shading["blend"]
            self._say_safe(shading["safe"])

    def wait_for_bands(self, timeout=10.0):
        """Compute the shading now (tests, screenshots): the pad's (returned), or the weight triangle's
        (three templates: self.triangle)."""
        from PyQt5.QtWidgets import QApplication

        self._bands_timer.stop()
        self._start_bands()
        thread = getattr(self, "bands_thread", None)
        if thread is not None:
            thread.join(timeout)
        QApplication.processEvents()
        return self.bands

    # -- models replaced (rewrite, blend-models) --------------------------------------------------------
    def replace_model(self, model, text):
        """Show `model` instead of the current one, undoably (Rewrite panel's Undo): undo brings back the model
        that was on screen (a Diverge checkpoint, when one was shown), not the document's. Once the new model's
        shading at this time is in, a change that broke many more of its blends says so (`_compare`)."""
        before = self.state.model or self.doc.model
        shading = self.triangle if self.triangle is not None and self.triangle["codes"] is not None else self.bands
        self._compare = None
        if shading is not None and shading["model"] is before and shading["time"] == self.state.time:
            self._compare = (model, shading["time"], float(np.mean(np.asarray(shading["codes"]) == 2)), text)
        self.undo.push(ModelSwap(self, before, model, text))

    def _compared(self, shading):
        """The new model's shading arrived: where a model change (a rewrite drag, a model blend) broke many more of
        the blends it shades at this time, the status bar says so and how to take it back (a walkthrough saved a
        rewrite that had broken most of the weight triangle, the meter by the point still saying all was well)."""
        compare = self._compare
        if compare is None or shading is None or shading["codes"] is None or shading["model"] is not compare[0] \
                or shading["time"] != compare[1]:
            return
        self._compare = None
        model, time, before, text = compare
        now = float(np.mean(np.asarray(shading["codes"]) == 2))
        if now - before >= BROKE_MORE:
            self.window.statusBar().showMessage(
                f"{text} breaks {now:.0%} of the blends shaded at time {time:g} ({before:.0%} before): Edit > Undo "
                f"(Ctrl+Z) takes it back", 30000)

    def _put_model(self, model):
        self.preview = None  # (the window's model_unsaved follows this stack's clean index)
        self._swapping = True
        try:
            self.doc.set_model(model)
        finally:
            self._swapping = False


def install(window) -> Beyond:
    """Wire Beyond, the chip, the red faces, the pad shading, the Bend and Rewrite panels into a MainWindow."""
    from .bend_panel import BendPanel
    from .meters import Meter
    from .rewrite import RewritePanel

    beyond = Beyond(window)
    panel = window.explore_panel
    panel.chip = Meter(beyond, show_weights=True)
    beyond.pending.connect(panel.chip.wait)
    panel.play.toggled.connect(beyond.set_playing)
    panel.blend_layout.addWidget(panel.chip, 0, Qt.AlignLeft)
    window.bend_panel = BendPanel(beyond)
    window.rewrite_panel = RewritePanel(beyond)
    layout = panel.layout()
    layout.setSizeConstraint(QLayout.SetMinimumSize)  # the scroll area never squeezes it below what it needs
    layout.insertWidget(layout.count() - 1, window.bend_panel)
    layout.insertWidget(layout.count() - 1, window.rewrite_panel)
    view = window.view

    def follow(check):
        """Red faces and the camera follow the check (in Explore, Train and Export; Sketch shows a template)."""
        if check is None or window.mode == "sketch":
            view.show_broken(None)
            return
        view.show_broken(check.broken_quads, beyond.coherence().surface_size)
        view.fit_if_outside()

    beyond.checked.connect(follow)
    beyond.pending.connect(view.hide_broken_tag)  # the tag stays where it was put; the faces move with the shape
    window.gallery.looks = beyond
    window.tabs.currentChanged.connect(lambda i: beyond._shape_changed())
    return beyond
