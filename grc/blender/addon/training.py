"""Training from Blender: `bpy.ops.grc.train` runs `grc train` in a subprocess and loads the model it makes.

The subprocess keeps Blender responsive (a modal timer polls it), its progress bars are read into the status
bar, Esc or Cancel Training stops it, and the model file it writes is loaded as a GRC object at the end.
"""

import os
import re
import shlex
import shutil
import subprocess
import threading
import time as clock
from pathlib import Path

import bpy
from bpy.props import StringProperty

from .export import absolute
from .grc.errors import GRCError, printable

PROGRESS = re.compile(r"([A-Za-z][A-Za-z+()]*(?: [A-Za-z+()]+)*)\s+\D*?(\d{1,3})%\s+loss\s+(\S+)")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def grc_command(context):
    """The `grc` command: the path in the add-on's preferences, else `grc` on PATH; None when there is none."""
    addon = context.preferences.addons.get(__package__)
    path = addon.preferences.grc_command.strip() if addon and addon.preferences else ""
    if path:
        path = bpy.path.abspath(path)
        return path if os.path.isfile(path) and os.access(path, os.X_OK) else None
    return shutil.which("grc")


def _stamp(path: Path):
    """(mtime_ns, size) of a file, or None: whether a training wrote its model is told by a change."""
    try:
        status = path.stat()
    except OSError:
        return None
    return status.st_mtime_ns, status.st_size


class TrainingJob:
    """`grc train` in a subprocess; a thread collects its output, so Blender only polls (and stays responsive).

    The CLI's progress bars (rich) are read as a terminal would show them: TTY_COMPATIBLE makes rich
    redraw them into the pipe, and `progress()` takes the last "phase  ...  NN%  loss X" line.
    """

    def __init__(self, command: str, folder, output, options: str = ""):
        self.output = Path(output)
        try:
            extra = shlex.split(options)
        except ValueError as e:
            raise GRCError(f"cannot read the options ({e})", field="train_options") from None
        if any(a in ("-o", "--output") or a.startswith("--output=") for a in extra):
            raise GRCError("the Model File setting says where the model goes: leave -o out of the options",
                           field="train_options")
        self.args = [command, "train", str(folder), *extra, "-o", str(output)]  # (ours last: it wins)
        self.before = _stamp(self.output)  # a model already there: the training must replace it
        self.text, self.lock, self.process, self.cancelled = "", threading.Lock(), None, False

    def start(self):
        env = {**os.environ, "TTY_COMPATIBLE": "1", "TTY_INTERACTIVE": "1", "NO_COLOR": "1", "COLUMNS": "120"}
        try:
            self.process = subprocess.Popen(self.args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                            stderr=subprocess.STDOUT, env=env)
        except OSError as e:
            raise GRCError(f"cannot run the grc command: {e.strerror or e}", path=self.args[0]) from None
        threading.Thread(target=self._collect, daemon=True).start()
        return self

    def _collect(self):
        while True:
            chunk = self.process.stdout.read1(65536) if hasattr(self.process.stdout, "read1") else b""
            if not chunk:
                break
            with self.lock:
                self.text = (self.text + chunk.decode("utf-8", "replace"))[-200_000:]

    def poll(self):
        """None while training, else the exit code."""
        return self.process.poll()

    def lines(self) -> list[str]:
        with self.lock:
            text = ANSI.sub("", self.text)
        return [line.strip() for line in re.split(r"[\r\n]", text) if line.strip()]

    def progress(self) -> str:
        """The latest progress the CLI reported, e.g. "encoder + decoder 57% (loss 5.27e-02)"; "" before any."""
        for line in reversed(self.lines()):
            match = PROGRESS.search(line)
            if match:
                phase, percent, loss = match.groups()
                return f"{phase.strip()} {percent}% (loss {loss})"
        return ""

    def message(self) -> str:
        """The CLI's last words (its error, or what it saved)."""
        lines = [line for line in self.lines() if not PROGRESS.search(line)]
        errors = [line for line in lines if line.startswith("grc")]
        return printable((errors or lines or [""])[-1])[:300]

    def cancel(self, wait: bool = True):
        """Stop training (SIGTERM; the CLI says what it kept); the model file is left as it was.

        `wait=False` returns at once (the modal operator polls until the process has gone)."""
        self.cancelled = True
        if self.process and self.process.poll() is None:
            self.process.terminate()
            if not wait:
                return
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def wait(self, report=None, interval: float = 0.2):
        """Block until done (scripts and background Blender), passing progress to `report`; the exit code."""
        last = None
        while self.poll() is None:
            clock.sleep(interval)
            progress = self.progress()
            if report and progress and progress != last:
                report(progress)
                last = progress
        return self.process.returncode


_job: TrainingJob | None = None  # the training running now (one at a time)


def running() -> TrainingJob | None:
    """The training running now, if any."""
    return _job if _job is not None and _job.poll() is None else None


def cancel_running():
    if _job is not None:
        _job.cancel()


def start_training(context) -> TrainingJob:
    """Check the settings and start `grc train` on the scene's template folder, writing its model file."""
    global _job
    if _job is not None and _job.poll() is None:
        raise GRCError("a training is already running; cancel it first")
    settings = context.scene.grc
    command = grc_command(context)
    if command is None:
        raise GRCError("the grc command was not found: install GRC Studio (pip install grc-studio) or set its "
                       "path in the add-on's preferences", field="grc_command")
    folder = absolute(settings.template_folder, "template set folder")
    output = absolute(settings.model_file, "model file")
    if not folder.is_dir():
        raise GRCError("expected a template set folder (export one with Export Templates)", path=folder,
                       field="template_folder")
    if output.suffix.lower() != ".grc" or output.is_dir():
        raise GRCError("expected a .grc file to write", path=output, field="model_file")
    if not output.parent.is_dir():
        raise GRCError("its folder does not exist", path=output, field="model_file")
    _job = TrainingJob(command, folder, output, settings.train_options).start()
    return _job


def finish_training(context, job: TrainingJob, operator) -> set:
    """After the CLI exits: load the trained model as a GRC object, or report why there is none."""
    global _job
    _job = None if _job is job else _job
    code = job.process.returncode
    if job.cancelled:
        operator.report({"WARNING"}, f"Training cancelled; {job.output.name} unchanged")
        return {"CANCELLED"}
    if code != 0:
        operator.report({"ERROR"}, f"grc train failed (exit {code}): {job.message()}")
        return {"CANCELLED"}
    if _stamp(job.output) in (None, job.before):  # exit 0, but no new model: never load an old one as trained
        operator.report({"ERROR"}, printable(f"grc train did not write {job.output} (check the grc Command and "
                                             f"the options): {job.message()}"))
        return {"CANCELLED"}
    from . import add_grc_object  # the add-on's own (it imports this module)

    try:
        obj, model = add_grc_object(context, job.output)
    except GRCError as e:
        operator.report({"ERROR"}, str(e))
        return {"CANCELLED"}
    operator.report({"INFO"}, printable(f"Trained {job.output.name}: templates {', '.join(model.names)}"))
    return {"FINISHED"}


class GRC_OT_train(bpy.types.Operator):
    """Train a GRC model on the scene's template set with `grc train` in the background, then load it"""

    bl_idname = "grc.train"
    bl_label = "Train"
    bl_options = {"REGISTER"}

    _timer = None
    _job = None

    def execute(self, context):  # scripts and background Blender: wait for it here
        try:
            job = start_training(context)
        except GRCError as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        try:
            job.wait(lambda text: print(f"GRC training: {text}", flush=True))
        except KeyboardInterrupt:
            job.cancel()
        return finish_training(context, job, self)

    def invoke(self, context, event):
        if context.window is None:
            return self.execute(context)
        try:
            self._job = start_training(context)
        except GRCError as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        self._timer = context.window_manager.event_timer_add(0.25, window=context.window)
        context.window_manager.modal_handler_add(self)
        self.show(context, "starting")
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        job = self._job
        if event.type == "ESC" and event.value == "PRESS":
            job.cancel(wait=False)
        elif event.type != "TIMER":
            return {"PASS_THROUGH"}
        if job.poll() is None:
            self.show(context, job.progress() or "starting")
            return {"PASS_THROUGH"}
        context.window_manager.event_timer_remove(self._timer)
        context.workspace.status_text_set(None)
        for area in context.screen.areas if context.screen else []:
            area.tag_redraw()
        return finish_training(context, job, self)

    def show(self, context, text):
        context.workspace.status_text_set(f"GRC training: {text}  (Esc or Cancel Training to stop)")
        for area in context.screen.areas if context.screen else []:
            if area.type == "VIEW_3D":
                area.tag_redraw()


class GRC_OT_cancel_training(bpy.types.Operator):
    """Stop the running training; the model file stays as it was"""

    bl_idname = "grc.cancel_training"
    bl_label = "Cancel Training"

    @classmethod
    def poll(cls, context):
        return _job is not None and _job.poll() is None

    def execute(self, context):
        _job.cancel(wait=context.window is None)  # the modal Train operator notices and reports it
        return {"FINISHED"}


class GRCSceneSettings(bpy.types.PropertyGroup):
    """scene.grc: where Export Templates writes the template set and what Train makes of it."""

    template_folder: StringProperty(name="Template Set", subtype="DIR_PATH",
                                    description="The template set folder Export Templates writes and Train reads")
    model_file: StringProperty(name="Model File", subtype="FILE_PATH", default="//model.grc",
                               description="The .grc file Train writes (then loads as a GRC object)")
    train_options: StringProperty(name="Options", default="",
                                  description="More options for grc train, e.g. --steps 2000 --set refine_steps=0")


class GRCPreferences(bpy.types.AddonPreferences):
    bl_idname = __package__

    grc_command: StringProperty(name="grc Command", subtype="FILE_PATH",
                                description="The grc program (empty: `grc` on PATH)")

    def draw(self, context):
        self.layout.prop(self, "grc_command")
        found = grc_command(context)
        self.layout.label(text=f"Using: {found}" if found else "grc not found: Train is unavailable",
                          icon="CHECKMARK" if found else "ERROR")
