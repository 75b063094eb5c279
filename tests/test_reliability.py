"""Trust, tested by injecting the fault: a full disk, kill -9, a read-only folder, a FIFO, /dev/zero, depth
bombs, hostile numbers and sizes. Every case must end in one GRCError line (or the old file intact)."""

import errno
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

import grc
import grc.io
import grc.templates
from grc import bundle, limits
from grc.config import Config
from grc.errors import GRCError, WriteError
from grc.model import GRCModel
from grc.shapes import export, export_animation
from grc.templates import (Template, TemplateSet, add_template, load_template, load_template_set, save_templates,
                           template_filename, template_files)
from grc_testing import PETAL, ROOT

ENOSPC = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
EACCES = PermissionError(errno.EACCES, os.strerror(errno.EACCES))


def tree(folder: Path) -> dict:
    """Every file under `folder` (hidden ones too) with its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def template(name="t", shift=0.0, T=3, M=3, N=3) -> Template:
    points = np.random.default_rng(len(name)).normal(size=(T, M, N, 3)) + shift
    return Template(name, np.linspace(0, 1, T), np.linspace(0, 1, M), points)


def a_set(folder: Path, names) -> Path:
    save_templates(folder, [template(n, i) for i, n in enumerate(names)])
    (folder / "LICENSE").write_text("CC-BY 4.0\n")
    return folder


def copy_model(model: GRCModel, **weights) -> GRCModel:
    return GRCModel(model.config, model.templates, {**model.weights, **weights}, model.info)


def run_python(code: str, timeout: float = 60) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=timeout, env=env)


# -- a full disk -------------------------------------------------------------------------------------


def test_full_disk_during_a_model_save_leaves_the_old_model(petal_model, tmp_path, monkeypatch):
    target = petal_model.save(tmp_path / "petal.grc")
    before = target.read_bytes()
    real = Path.write_bytes

    def half_then_full(self, data):
        real(self, data[: len(data) // 2])
        raise ENOSPC
    monkeypatch.setattr(Path, "write_bytes", half_then_full)
    with pytest.raises(WriteError, match="cannot write: No space left on device") as e:
        copy_model(petal_model).save(target)
    assert "\n" not in str(e.value) and str(target) in str(e.value)
    monkeypatch.undo()
    assert target.read_bytes() == before and os.listdir(tmp_path) == ["petal.grc"]


@pytest.mark.parametrize("where", ["second template", "carrying LICENSE over", "the swap"])
def test_full_disk_during_a_set_save_leaves_the_old_set(tmp_path, monkeypatch, where):
    """A 3-template save over a 2-template set fails partway: the old set is whole, nothing is left over."""
    folder = a_set(tmp_path / "petal", ["a", "b"])
    before = tree(folder)
    new = [template(n, i) for i, n in enumerate(["a", "b", "c"])]
    if where == "second template":
        real_open, opened = open, []

        def full_open(file, mode="r", *args, **kwargs):
            f = real_open(file, mode, *args, **kwargs)
            if "w" in mode:
                opened.append(file)
                if len(opened) == 2:
                    f.write(b"{\"format\": ")
                    f.close()
                    raise ENOSPC
            return f
        monkeypatch.setattr(grc.templates, "open", full_open, raising=False)
    elif where == "carrying LICENSE over":
        def full_copy(*args, **kwargs):
            raise ENOSPC
        monkeypatch.setattr(shutil, "copy2", full_copy)
    else:
        def refuse(*args):
            raise ENOSPC
        monkeypatch.setattr(grc.templates, "_exchange", lambda a, b: False)
        monkeypatch.setattr(os, "rename", refuse)
    with pytest.raises(WriteError, match="No space left on device"):
        save_templates(folder, new)
    monkeypatch.undo()
    assert tree(folder) == before and os.listdir(tmp_path) == ["petal"]
    assert load_template_set(folder).names == ["a", "b"]


def test_a_set_that_would_not_read_back_is_not_saved(tmp_path, monkeypatch):
    folder = a_set(tmp_path / "petal", ["a", "b"])
    before = tree(folder)
    monkeypatch.setattr(grc.templates, "template_json", lambda data: json.dumps({**data, "name": "other"}))
    with pytest.raises(GRCError, match="would not read back"):
        save_templates(folder, [template("a"), template("b", 1)])
    assert tree(folder) == before and os.listdir(tmp_path) == ["petal"]


# -- kill -9 ----------------------------------------------------------------------------------------


def test_kill_during_model_saves_leaves_a_model_that_loads(petal_model_file, tmp_path):
    target = tmp_path / "petal.grc"
    shutil.copy(petal_model_file, target)
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import grc
        model = grc.load_model({str(target)!r})
        print("saving", flush=True)
        while True:
            model.save({str(target)!r})
    """)], stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.stdout.readline().strip() == "saving"
    time.sleep(1.0)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert grc.load_model(target).names == ["petal-a", "petal-b"]


def test_kill_during_set_saves_leaves_a_whole_set(tmp_path):
    """A process saving a set over and over (2 templates, then 3) is killed: the folder holds one whole
    set, never a mix; the leftover hidden folder is ignored by loading and removed by the next save."""
    folder = a_set(tmp_path / "petal", ["a", "b"])
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import numpy as np, grc.templates as t
        sets = [[t.Template(n, np.linspace(0, 1, 3), np.linspace(0, 1, 3), np.arange(81.0).reshape(3, 3, 3, 3) + i)
                 for i, n in enumerate(names)] for names in (["a", "b"], ["a", "b", "c"])]
        print("saving", flush=True)
        i = 0
        while True:
            t.save_templates({str(folder)!r}, sets[i % 2])
            i += 1
    """)], stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.stdout.readline().strip() == "saving"
    time.sleep(1.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    names = load_template_set(folder).names
    assert names in (["a", "b"], ["a", "b", "c"])
    assert len(template_files(folder)) == len(names) and (folder / "LICENSE").read_text() == "CC-BY 4.0\n"
    save_templates(folder, [template("x"), template("y", 1)])
    assert os.listdir(tmp_path) == ["petal"]  # leftovers cleaned


def test_kill_before_the_swap_leaves_the_old_set(tmp_path):
    folder = a_set(tmp_path / "petal", ["a", "b"])
    before = tree(folder)
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import time, numpy as np, grc.templates as t
        def stop(new, folder):
            print("about to swap", flush=True)
            time.sleep(60)
        t._swap_in = stop
        t.save_templates({str(folder)!r}, [t.Template(n, [0, 1], [0, 1], np.arange(24.0).reshape(2, 2, 2, 3)) for n in "xyz"])
    """)], stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.stdout.readline().strip() == "about to swap"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert any(name.startswith(".petal.new-") for name in os.listdir(tmp_path))  # the half-done save
    assert tree(folder) == before and load_template_set(folder).names == ["a", "b"]
    save_templates(folder, [template("a"), template("b", 1), template("c", 2)])
    assert os.listdir(tmp_path) == ["petal"] and load_template_set(folder).names == ["a", "b", "c"]


# -- read-only output -------------------------------------------------------------------------------


@pytest.fixture
def read_only(tmp_path, monkeypatch):
    """A read-only folder; as root (who may write anyway) the OS's refusal is injected where files are made."""
    folder = tmp_path / "ro"
    folder.mkdir()
    (folder / "keep.txt").write_text("old")
    folder.chmod(0o555)
    if os.geteuid() == 0:
        import tempfile

        def refuse(*args, **kwargs):
            raise EACCES
        monkeypatch.setattr(tempfile, "mkstemp", refuse)
        monkeypatch.setattr(tempfile, "mkdtemp", refuse)
    yield folder
    folder.chmod(0o755)


def test_read_only_folder_is_one_line(petal_model, read_only):
    with pytest.raises(WriteError, match="cannot write: (Permission denied|no permission)"):
        petal_model.save(read_only / "petal.grc")
    with pytest.raises(WriteError, match="cannot write"):
        export(petal_model, read_only / "petal.obj", 0.8, 0.5)
    with pytest.raises(WriteError, match="cannot write"):
        save_templates(read_only / "set", [template("a"), template("b", 1)])
    assert os.listdir(read_only) == ["keep.txt"]


def test_output_that_is_a_folder_is_refused_before_work(petal_model, tmp_path):
    (tmp_path / "out.grc").mkdir()
    with pytest.raises(WriteError, match="found a folder"):
        petal_model.save(tmp_path / "out.grc")
    with pytest.raises(WriteError, match="does not exist"):
        petal_model.save(tmp_path / "missing" / "out.grc")
    (tmp_path / "file").write_text("x")
    with pytest.raises(WriteError, match="expected a folder, found a file"):
        save_templates(tmp_path / "file", [template("a")])


# -- files that are not files -----------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "folder"])
@pytest.mark.parametrize("what", ["model", "template", "set"])
def test_fifo_and_dev_zero_are_refused_at_once(tmp_path, kind, what):
    name = {"model": "m.grc", "template": "t.json", "set": "00-a.json"}[what]
    path = (tmp_path / "set" if what == "set" else tmp_path) / name
    path.parent.mkdir(exist_ok=True)
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "dev-zero":
        path.symlink_to("/dev/zero")
    else:
        path.mkdir()
    load = {"model": "grc.load_model", "template": "grc.load_template", "set": "grc.load_templates"}[what]
    target = path.parent if what == "set" else path
    result = run_python(f"""
        import grc
        try:
            {load}({str(target)!r})
        except grc.GRCError as e:
            print(e)
    """, timeout=60)  # a hang or a read of /dev/zero would run into the timeout
    assert result.returncode == 0, result.stderr
    assert re.search(r"expected a (model|template) file, found a (device, pipe or socket|folder)", result.stdout)


def test_oversized_model_file_is_refused_before_reading(tmp_path):
    path = tmp_path / "sparse.grc"
    with open(path, "wb") as f:
        f.truncate(limits.MAX_MODEL_BYTES + 1)  # sparse: no disk, and it must not be read into memory
    with pytest.raises(GRCError, match="larger than the 256.0 MiB limit for a model file"):
        grc.load_model(path)


# -- depth bombs and hostile model files ------------------------------------------------------------


def test_json_depth_bomb_in_a_template(tmp_path):
    text = json.dumps({**template("a").to_json(), "points": None}).replace("null", "[" * 100_000 + "]" * 100_000)
    (tmp_path / "00-a.json").write_text(text)
    with pytest.raises(GRCError, match="JSON nested 100001 levels deep; the limit is 16"):
        load_template(tmp_path / "00-a.json")


def test_json_depth_reads_long_strings_in_little_memory(tmp_path):
    """A template with a 20 MB attribution (under the file size cap) is refused with one line, after
    reading it without the gigabytes a regular expression over its strings took (about 120 bytes per
    character); brackets inside strings, escaped quotes and backslashes included, do not count as nesting."""
    import resource

    from grc.limits import json_depth

    tricky = {"a\\": ["]]", "\\\"[[[", {"b": "{{\"}"}], "c": [[["\\"]]]}
    assert json_depth(json.dumps(tricky)) == json_depth(json.dumps(tricky), chunk=5) == 4
    data = {**template("a").to_json(), "attribution": "[" * 20_000_000}
    (tmp_path / "00-a.json").write_text(json.dumps(data))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(GRCError, match="attribution: expected text of at most"):
        load_template(tmp_path / "00-a.json")
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 600  # the regular expression needed about 2.4 GB here


def model_bytes_with(header: dict, data: bytes) -> bytes:
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data


def split(path):
    data = Path(path).read_bytes()
    (size,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8:8 + size]), data[8 + size:]


@pytest.mark.parametrize("change, message", [
    (lambda h, d: (h.update(bomb=json.loads("[" * 200 + "]" * 200)), d), "nested 201 levels"),
    (lambda h, d: (h["__metadata__"].update(info="[" * 10_000 + "]" * 10_000), d), "info: JSON nested 10000 levels"),
    (lambda h, d: (h["__metadata__"].update(templates="[" * 10_000 + "]" * 10_000), d), "templates: JSON nested"),
    (lambda h, d: (h.update(huge={"dtype": "F32", "shape": [2**32, 2**32], "data_offsets": [0, 0]}), d),
     "does not match its shape"),  # 2**64 elements wrap to 0 in int64
    (lambda h, d: (h.update(deep={"dtype": "F32", "shape": [1] * 65, "data_offsets": [0, 4]}), d),
     "65 dimensions; the limit is 8"),
    (lambda h, d: (h["__metadata__"].update(config='{"steps": 1e400}'), d), "config: expected finite numbers, found 1e400"),
    # (1e400 is read as Infinity: a model whose info had one loaded, and failed only when saved again)
    (lambda h, d: (h["__metadata__"].update(info='{"note": -1e400}'), d), "info: expected finite numbers, found -1e400"),
    (lambda h, d: (h["__metadata__"].update(config='{"lr_encoder": NaN}'), d), "NaN"),
    (lambda h, d: (h["__metadata__"].update(config=json.dumps({"normalize": 1})), d), "true or false"),
    (lambda h, d: (h["__metadata__"].update(config=json.dumps({"steps": True})), d), "expected a number, got True"),
    (lambda h, d: (h["__metadata__"].update(config=json.dumps({"decoder_hidden": [100_000_000]})), d),
     "at most 4,096 units"),
    (lambda h, d: (h["__metadata__"].update(config=json.dumps({"seed": 2**64})), d), "seed: expected a value from 0"),
])
def test_hostile_model_files_are_one_line(petal_model_file, tmp_path, change, message):
    header, data = split(petal_model_file)
    change(header, data)
    path = tmp_path / "bad.grc"
    path.write_bytes(model_bytes_with(header, data))
    with pytest.raises(GRCError, match=message) as e:
        grc.load_model(path)
    assert str(path) in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("name, value, message", [
    ("row_scale", np.array([0.0]), "row_scale: expected positive values"),
    ("row_scale", np.array([-1.0]), "row_scale: expected positive values"),
    ("relational_scale", np.array([0.0, 1.0]), "relational_scale: expected positive values"),
    ("row_scale", np.array([1e300]), "row_scale: expected values within"),  # loaded; then exports blamed the output
])
def test_a_model_that_cannot_work_is_refused_at_load_and_never_saved(petal_model, tmp_path, name, value, message):
    target = petal_model.save(tmp_path / "petal.grc")
    before = target.read_bytes()
    broken = copy_model(petal_model, **{name: value})
    with pytest.raises(GRCError, match=f"the model would not read back: {message}"):
        broken.save(target)
    assert target.read_bytes() == before and os.listdir(tmp_path) == ["petal.grc"]
    tensors, meta = bundle.load(target)
    bundle.save(tmp_path / "bad.grc", {**tensors, name: value}, meta)  # written by something else
    with pytest.raises(GRCError, match=message):
        grc.load_model(tmp_path / "bad.grc")


def test_a_model_whose_shapes_overflow_is_never_saved(petal_model, tmp_path):
    huge = {k: v * 1e300 for k, v in petal_model.weights.items() if k.startswith("decoder.")}
    with pytest.raises(GRCError, match="would not read back: decoder.0.weight: contains NaN or infinite"):
        copy_model(petal_model, **huge).save(tmp_path / "huge.grc")
    last = max(k for k in petal_model.weights if k.startswith("decoder.") and k.endswith(".bias"))
    with pytest.raises(GRCError, match="would not read back: row_scale: expected values within"):
        copy_model(petal_model, row_scale=np.array([1e308]), **{last: petal_model.weights[last] + 10}).save(
            tmp_path / "big.grc")
    # finite weights within every bound (the scale is stored as float64), but every shape overflows
    big = copy_model(petal_model, relational_scale=np.array([1e-300, 1e-300]))
    with pytest.raises(GRCError, match="would not read back: its shape at time 1.1 is not finite"):
        big.save(tmp_path / "big.grc")
    assert os.listdir(tmp_path) == []


def test_a_model_file_whose_shapes_overflow_is_refused_at_load_naming_it(petal_model, tmp_path, capsys):
    """Written by something else, a file whose scales are each within bounds but make no finite shape (relational
    scale 1e-300) loaded, and every export then failed with a line blaming the blend and naming no file ("grc: blend:
    the shape at time 0.8 is not finite (too far outside what the model learned)")."""
    from grc.cli import main

    good = petal_model.save(tmp_path / "petal.grc")
    tensors, meta = bundle.load(good)
    path = bundle.save(tmp_path / "bad.grc", {**tensors, "relational_scale": np.array([1e-300, 1e-300])}, meta)
    with pytest.raises(GRCError, match="its shape at time 1.1 is not finite") as e:
        grc.load_model(path)
    assert e.value.path == path
    for command in (["info", str(path)], ["export", str(path), "-o", str(tmp_path / "x.obj")]):
        assert main(command) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"grc: {path}: its shape at time 1.1 is not finite") and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x.obj").exists()
    assert grc.load_model(good).shape(0.8, 0.5).shape == (7, 7, 3)


def test_every_template_set_within_the_limits_fits_a_model_header():
    """The worst set the limits allow: MAX_GRID_VALUES numbers of 24 characters, the most templates with
    the longest names; its model header must stay within MAX_HEADER_BYTES (else it could not load back)."""
    K, T, M = limits.MAX_TEMPLATES, 4, 8
    N = limits.MAX_GRID_VALUES // (K * T * M * 3)
    numbers = -(1 + np.random.default_rng(0).random((K, T, M, N, 3))) * 1.2345678901234567e-100
    names = [("\"" * 50 + "é" * 50 + f"{k:0100d}")[: limits.MAX_NAME] for k in range(K)]
    templates = [Template(names[k], np.linspace(0.1234567890123456, 0.9876543210987654, T),
                          np.linspace(0.1234567890123456, 0.9876543210987654, M), numbers[k]) for k in range(K)]
    s = TemplateSet(templates)
    assert len(s) * s.points[0].size <= limits.MAX_GRID_VALUES
    config = Config(decoder_hidden=(limits.MAX_WIDTH,) * 2)
    metadata = {"format": "grc-model/1", "grc_version": "x", "config": json.dumps(config.to_json()),
                "templates": json.dumps(s.to_json()), "info": "{}"}
    tensors = {f"w{i}.{j}.weight": np.zeros((0,) * 3, np.float32) for i in range(3) for j in range(limits.MAX_LAYERS + 1)}
    data = bundle.dumps(tensors, metadata)
    (size,) = struct.unpack("<Q", data[:8])
    assert size <= limits.MAX_HEADER_BYTES


def test_model_size_is_checked_before_training(petal):
    from grc.model import check_model_size

    check_model_size(Config(), petal)
    with pytest.raises(GRCError, match="MiB limit for a model file"):
        check_model_size(Config(decoder_hidden=(limits.MAX_WIDTH,) * limits.MAX_LAYERS), petal)


# -- config values ----------------------------------------------------------------------------------


@pytest.mark.parametrize("change, message", [
    (dict(decoder_hidden=(100_000_000,)), "decoder_hidden: expected layers of at most 4,096 units"),
    (dict(encoder_hidden=(8,) * 9), "encoder_hidden: expected at most 8 hidden layers"),
    (dict(batch_size=1_000_000_000), "batch_size: expected a value from 1 to 65,536, got 1,000,000,000"),
    (dict(steps=10**9), "steps: expected a value from 1 to 10,000,000"),
    (dict(seed=2**64), "seed: expected a value from 0 to 4,294,967,295"),
    (dict(context_dims=17), "context_dims: expected a value from 0 to 16"),
    (dict(steps=True), "steps: expected a number, got True"),
    (dict(lr_encoder=float("nan")), "lr_encoder"),
    (dict(refine_template_weight=float("inf")), "refine_template_weight: expected a finite number"),
    (dict(normalize=1), "normalize: expected true or false"),
])
def test_config_limits_are_one_line(change, message):
    with pytest.raises(GRCError, match=re.escape(message)):
        Config(**change)


def test_context_dims_left_to_the_templates_reads_back_and_a_wrong_one_is_one_line():
    # the default context_dims is null (one per template beyond the first, decided when training starts):
    # a config written with it reads back the same, as `--set context_dims=null` and Ray's jobs pass it
    assert Config.from_json(Config().to_json()) == Config() and Config().to_json()["context_dims"] is None
    assert Config.from_json({**Config().to_json(), "context_dims": 3}).context_dims == 3
    for bad, message in (("two", "config.context_dims: expected a number"), (2.5, "config.context_dims"),
                         (-1, "config.context_dims: expected a value from 0 to 16")):
        with pytest.raises(GRCError, match=re.escape(message)):
            Config.from_json({**Config().to_json(), "context_dims": bad})


# -- template numbers, names and sizes ---------------------------------------------------------------


def template_file(tmp_path, **change) -> Path:
    data = {**template("a").to_json(), **change}
    path = tmp_path / "00-a.json"
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize("change, field, message", [
    (dict(points=[[[[1e200, 0, 0]] * 3] * 3] * 3), "points", "expected coordinates from -1e+06 to 1e+06"),
    (dict(time=[-1e308, 0, 1e308]), "time", "expected values from -1e+06 to 1e+06"),
    (dict(points=[[[[True, 0, 0]] * 3] * 3] * 3), "points", "expected numbers, found True"),
    (dict(points=[[[["1.5", 0, 0]] * 3] * 3] * 3), "points", "expected numbers, found '1.5'"),
    (dict(time=[0, False, 1]), "time", "expected numbers, found False"),
    (dict(morph=[0, 0.5, 10**400]), "morph", "an integer too large for a float"),
    (dict(name=""), "name", "expected a non-empty name"),
    (dict(name="a\x1b[31mred"), "name", "expected printable characters"),
    (dict(name="x" * 201), "name", "at most 200 characters"),
    (dict(name=["a"]), "name", "expected a non-empty name"),
])
def test_template_numbers_and_names(tmp_path, change, field, message):
    with pytest.raises(GRCError, match=re.escape(message)) as e:
        load_template(template_file(tmp_path, **change))
    assert e.value.field == field and "\x1b" not in str(e.value)


def test_grid_and_set_sizes(tmp_path):
    with pytest.raises(GRCError, match="time: expected at most 256 values"):
        template("a", T=257, M=2, N=2)
    with pytest.raises(GRCError, match="points: expected at most 512 points per row"):
        template("a", T=2, M=2, N=513)
    big = [template(n, T=7, M=280, N=280) for n in "ab"]  # 2 x 7 x 280 x 280 x 3 = 3.3M numbers
    with pytest.raises(GRCError, match="the limit is 2,000,000"):
        TemplateSet(big)
    with pytest.raises(GRCError, match="expected at most 64 templates, found 65"):
        TemplateSet([template(f"t{i}", T=2, M=2, N=2) for i in range(65)])
    with pytest.raises(GRCError, match="name: expected a non-empty name"):
        Template("", [0, 1], [0, 1], np.zeros((2, 2, 2, 3)))  # `templates import ""`
    with pytest.raises(GRCError, match="name: expected a non-empty name"):
        add_template(tmp_path / "set", Template(" ", [0, 1], [0, 1], np.zeros((2, 2, 2, 3))))


# -- shapes and exports -----------------------------------------------------------------------------


@pytest.mark.parametrize("time, blend, field, message", [
    (float("nan"), 0.5, "time", "finite"),
    (1e308, 0.5, "time", "expected values from -1e+06 to 1e+06"),
    (0.8, float("nan"), "blend", "finite"),
    (0.8, 1e300, "blend", "expected values from -100 to 100"),
    (0.8, -1e7, "blend", "expected values from -100 to 100, got -1e+07"),  # the value as given, its sign too
    (0.8, True, "blend", "expected real numbers"),
    (0.8, "0.5", "blend", "expected real numbers"),
    ("abc", 0.5, "time", "expected real numbers"),
])
def test_shape_refuses_bad_time_and_blend(petal_model, time, blend, field, message):
    with pytest.raises(GRCError, match=re.escape(message)) as e:
        petal_model.shape(time, blend)
    assert e.value.field == field


def test_shape_refuses_bad_context_and_morph(petal_model):
    with pytest.raises(GRCError, match="finite"):
        petal_model.shape(0.8, context=[float("nan")])
    with pytest.raises(GRCError, match="expected values from -10000 to 10000"):
        petal_model.shape(0.8, context=[1e9])
    with pytest.raises(GRCError, match="morph samples: expected a value from 2 to 2,048, got 100,000,000"):
        petal_model.shape(0.8, 0.5, morph=100_000_000)


@pytest.mark.parametrize("options, message", [
    (dict(subdivide=4), "subdivide: expected a value from 0 to 3"),
    (dict(subdivide=-1), "subdivide: expected a value from 0 to 3"),
    (dict(petals=0), "petals: expected a value from 1 to 64"),
    (dict(petals=1_000_000), "petals: expected a value from 1 to 64"),
    (dict(petals=2.5), "petals: expected a whole number"),
    (dict(petals=99999999999999999999), "petals: expected a value from 1 to 64, got 99,999,999,999,999,999,999"),
    (dict(thickness=float("inf")), "thickness: expected a finite number"),
    (dict(thickness=1e9), "thickness: expected a value from 0 to 1000"),
    (dict(morph=100_000_000), "morph samples: expected a value from 2 to 2,048"),
    (dict(subdivide=3, petals=64, morph=2048), "vertices; the limit for one export is 20,000,000"),
])
def test_export_options_are_checked_before_work(petal_model, tmp_path, options, message):
    with pytest.raises(GRCError, match=re.escape(message)):
        export(petal_model, tmp_path / "petal.ply", 0.8, 0.5, **options)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("options, message", [
    (dict(frames=10_000_000), "frames: expected a value from 2 to 1,000"),
    (dict(frames=1000, subdivide=3, petals=16), "the limit for one export is 20,000,000"),
    (dict(fps=0.0), "fps: expected a value from 0.01 to 1000"),
    (dict(start=float("nan")), "start: expected a finite number"),
    (dict(stop=1e300), "stop: expected a value from -1e+06 to 1e+06"),
])
def test_sweep_options_are_checked_before_work(petal_model, tmp_path, options, message):
    with pytest.raises(GRCError, match=re.escape(message)):
        export_animation(petal_model, tmp_path / "sweep.glb", **options)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("format", ["obj", "ply", "stl", "glb"])
def test_exports_are_finite_and_within_float32(petal_model, tmp_path, format):
    """A model whose shapes reach 1e39 (finite in float64, infinite in a file's float32) writes nothing."""
    big = copy_model(petal_model, row_scale=np.array([1e40]))
    with pytest.raises(GRCError, match="beyond what a file stores"):
        export(big, tmp_path / f"petal.{format}", 0.8, 0.5)
    with pytest.raises(GRCError, match="expected values from -100 to 100"):
        export(petal_model, tmp_path / f"petal.{format}", 0.8, 1e300)
    assert os.listdir(tmp_path) == []


# -- order and whole sets ---------------------------------------------------------------------------


def test_twelve_templates_keep_their_blend_order(tmp_path):
    names = [f"t{i}" for i in range(12)]
    s = TemplateSet([template(n, i, T=2, M=2, N=2) for i, n in enumerate(names)])
    files = s.save(tmp_path / "set")
    assert [f.name for f in files][:3] == ["00-t0.json", "01-t1.json", "02-t2.json"]
    assert load_template_set(tmp_path / "set").names == names
    again = load_template_set(tmp_path / "set")
    again.save(tmp_path / "set")
    assert load_template_set(tmp_path / "set").names == names


def test_old_unpadded_sets_load_in_their_order(tmp_path):
    folder = tmp_path / "old"
    folder.mkdir()
    for i in range(12):
        template(f"t{i}", i, T=2, M=2, N=2).save(folder / f"{i}-t{i}.json")
    assert load_template_set(folder).names == [f"t{i}" for i in range(12)]
    save_templates(folder, load_template_set(folder).templates)  # saving pads the names
    assert sorted(os.listdir(folder))[:2] == ["00-t0.json", "01-t1.json"]


def test_save_carries_other_files_and_replaces_the_templates(tmp_path):
    folder = a_set(tmp_path / "petal", ["a", "b", "c"])
    (folder / "notes").mkdir()
    (folder / "notes" / "ideas.txt").write_text("more petals")
    save_templates(folder, [template("x"), template("y", 1)])
    assert sorted(os.listdir(folder)) == ["00-x.json", "01-y.json", "LICENSE", "notes"]
    assert (folder / "notes" / "ideas.txt").read_text() == "more petals"


def test_add_template_adds_replaces_and_refuses(tmp_path):
    folder = tmp_path / "set"
    path, replaced = add_template(folder, template("a"))
    assert path == folder / "00-a.json" and not replaced
    assert add_template(folder, template("b", 1)) == (folder / "01-b.json", False)
    with pytest.raises(GRCError, match="already has a template named 'a'"):
        add_template(folder, template("a", 5))
    assert add_template(folder, template("a", 5), replace=True) == (folder / "00-a.json", True)
    assert load_template_set(folder).names == ["a", "b"]


def test_adding_a_template_keeps_the_folder_a_shell_stands_in(tmp_path):
    """`grc templates import NAME FILES -o .` from inside a set: the shell's folder was swapped for a copy and
    removed, so `ls` there showed nothing. Adding (or replacing) one template now writes its one file in place."""
    folder = tmp_path / "set"
    save_templates(folder, [template("a"), template("b", 1)])
    shell = os.open(folder, os.O_RDONLY)  # where a shell stands: the folder it is in, not its name
    try:
        assert add_template(folder, template("c", 2)) == (folder / "02-c.json", False)
        assert add_template(folder, template("a", 3), replace=True) == (folder / "00-a.json", True)
        assert sorted(os.listdir(shell)) == ["00-a.json", "01-b.json", "02-c.json"]
    finally:
        os.close(shell)
    again = load_template_set(folder)
    assert again.names == ["a", "b", "c"] and np.array_equal(again.templates[0].points, template("a", 3).points)
    (folder / "02-c.json").rename(folder / "7-c.json")  # numbered by hand: a new one still comes last
    assert add_template(folder, template("d", 4)) == (folder / "08-d.json", False)
    assert load_template_set(folder).names == ["a", "b", "c", "d"]


def test_replacing_a_linked_template_leaves_the_other_set_alone(tmp_path):
    """A set whose template is a link to another set's file: --replace changes this set only (a review: the one-file
    write followed the link into the other set). And a killed write's hidden .tmp is not carried into the next save."""
    a, b = tmp_path / "a", tmp_path / "b"
    save_templates(a, [template("x"), template("y", 1)])
    b.mkdir()
    (b / "00-x.json").symlink_to(a / "00-x.json")
    (b / "01-y.json").write_bytes((a / "01-y.json").read_bytes())
    (b / ".00-x.json.k1ll3d.tmp").write_text("half")
    add_template(b, template("x", 5), replace=True)
    assert np.array_equal(load_template_set(a).templates[0].points, template("x").points)
    assert np.array_equal(load_template_set(b).templates[0].points, template("x", 5).points)
    assert not (b / "00-x.json").is_symlink()
    save_templates(b, [template("z"), template("w", 1)])
    assert not list(b.glob("*.tmp")) and not list(b.glob(".*"))


def test_template_file_names_are_short_and_padded():
    assert template_filename(3, "open petal") == "03-open-petal.json"
    assert len(template_filename(63, "é" * 200).encode()) < 255


# -- packaging -------------------------------------------------------------------------------------


def test_the_wheel_carries_the_bundled_examples(tmp_path):
    """`pip install .` gives `grc studio` its petal: the wheel holds the sets and the model (one copy in
    the repository, shipped as package data)."""
    pytest.importorskip("setuptools")
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for name in ("grc", "gui", "templates", "meshes"):
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.tmp"))
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                             str(source), "-w", str(tmp_path / "wheel")], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    (wheel,) = (tmp_path / "wheel").glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {"grc/bundled/meshes/petal.grc", "grc/bundled/templates/petal/LICENSE"}
    for folder in ("petal", "leaf", "sprout"):
        expected |= {f"grc/bundled/templates/{folder}/{f.name}" for f in template_files(ROOT / "templates" / folder)}
    assert expected <= names and "grc/examples.py" in names and "gui/app.py" in names
    # every Python module of the repository's packages is in the wheel (a package left out of
    # pyproject's explicit list would be missing from `pip install .`)
    modules = {p.relative_to(ROOT).as_posix() for folder in ("grc", "gui") for p in (ROOT / folder).rglob("*.py")
               if "__pycache__" not in p.parts}
    assert modules <= names, sorted(modules - names)


def test_examples_are_found_in_a_checkout():
    from grc import examples

    assert examples.model_path().is_file() and grc.load_model(examples.model_path()).names == ["petal-a", "petal-b"]
    for name in ("petal", "leaf", "sprout"):
        assert len(load_template_set(examples.template_set_path(name))) >= 2
    assert examples.is_bundled(PETAL / "LICENSE")


# -- the documented limits --------------------------------------------------------------------------


def documented_value(value) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:g}"


def test_the_doc_lists_every_limit_with_its_value():
    doc = (ROOT / "docs" / "reliability.md").read_text()
    constants = re.findall(r"^([A-Z][A-Z0-9_]+) = ", (ROOT / "grc" / "limits.py").read_text(), re.M)
    assert len(constants) > 20
    for name in constants:
        row = re.search(rf"^\| `{name}` \| ([^|]+) \|", doc, re.M)
        assert row, f"docs/reliability.md has no row for {name}"
        assert row.group(1).strip().startswith(documented_value(getattr(limits, name))), name
