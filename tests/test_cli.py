"""The `grc` command line, driven as a user would: real files in, real files out, one-line errors."""

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import trimesh

import grc
from grc.cli import main
from grc.formats import to_y_up
from grc_testing import PETAL, ROOT


def run(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_train_evaluate_info(tmp_path, capsys):
    out_file = tmp_path / "petal.grc"
    code, out, err = run(capsys, "train", PETAL, "-o", out_file, "--steps", 200, "--batch-size", 64, "--seed", 3,
                          "--set", "template_steps=100", "--set", "template_lbfgs_steps=50", "--set", "refine_steps=50",
                          "--set", "decoder_hidden=16,16")
    assert code == 0, err
    assert "reconstruction RMSE" in out and out_file.exists()
    assert f"saved {out_file} (2 templates, 1 context value; " in out  # what was decided for the user
    model = grc.load_model(out_file)
    assert model.config.seed == 3 and model.config.steps == 200 and model.config.decoder_hidden == (16, 16)
    code, out, _ = run(capsys, "evaluate", out_file, "--json")
    metrics = json.loads(out)
    for key in ("template_fit_rmse", "reconstruction_rmse", "trace_separation", "interpolation_error",
                "extrapolation"):
        assert key in metrics
    assert set(metrics["trace_separation"]) == {"0", "0.1", "0.3", "0.55", "0.8", "1", "1.1"}
    assert set(metrics["extrapolation"]) == {"-0.5", "1.5"}
    code, out, _ = run(capsys, "info", out_file)
    assert code == 0 and "petal-a, petal-b" in out and "7 time steps x 7 rows x 7 points" in out


def test_export_keeps_the_grid_in_row_major_order(petal_model, petal_model_file, tmp_path, capsys):
    # the contract: --subdivide 0, no flower -> the M x N grid points, morph row then point
    grid = petal_model.shape(0.8, 0.5).reshape(-1, 3)
    for suffix in ("obj", "ply", "stl", "glb"):
        path = tmp_path / f"half.{suffix}"
        code, _, err = run(capsys, "export", petal_model_file, "--time", 0.8, "--blend", 0.5, "-o", path)
        assert code == 0, err
        mesh = trimesh.load(path, force="mesh", process=False, maintain_order=True)
        vertices = np.asarray(mesh.vertices)
        expected = to_y_up(grid) if suffix in ("obj", "glb") else grid  # each format's own axes
        if suffix == "stl":  # STL stores triangle corners; every grid point is among them
            assert np.allclose(np.unique(vertices.round(5), axis=0), np.unique(expected.round(5), axis=0), atol=2e-5)
        else:
            assert np.allclose(vertices, expected, atol=1e-5), suffix
    obj_faces = [line for line in (tmp_path / "half.obj").read_text().splitlines() if line.startswith("f ")]
    assert len(obj_faces) == 36 and all(len(f.split()) == 5 for f in obj_faces)  # 6 x 6 quads


def test_export_flower_subdivided(petal_model_file, tmp_path, capsys):
    path = tmp_path / "flower.glb"
    code, _, err = run(capsys, "export", petal_model_file, "--time", 0.8, "--blend", 1.6, "--subdivide", 2,
                       "--flower", 5, "-o", path)
    assert code == 0, err
    mesh = trimesh.load(path, force="mesh")
    assert len(mesh.vertices) == 5 * 25 * 25  # 7 x 7 grid, two levels of subdivision: 25 x 25, five petals


def test_export_animation_morph_targets(petal_model, petal_model_file, tmp_path, capsys):
    import pygltflib

    path = tmp_path / "bloom.glb"
    code, _, err = run(capsys, "export", petal_model_file, "--blend", 0.5, "--animate", "time", "--frames", 9,
                       "-o", path)
    assert code == 0, err
    gltf = pygltflib.GLTF2().load(str(path))
    names = gltf.meshes[0].extras["targetNames"]
    assert len(names) == 9 and names[0] == "time 0.000" and names[-1] == "time 1.100"
    code, _, err = run(capsys, "export", petal_model_file, "--animate", "blend", "--frames", 3, "-o", path)
    assert code == 0 and grc.load_model(petal_model_file)


def test_traces_plots(petal_model_file, tmp_path, capsys):
    for args in ([], ["--time", 0.7]):
        path = tmp_path / f"traces{len(args)}.png"
        code, _, err = run(capsys, "traces", petal_model_file, "-o", path, *args)
        assert code == 0, err
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 20_000


def test_templates_validate_and_import(tmp_path, capsys):
    code, out, _ = run(capsys, "templates", "validate", PETAL)
    assert code == 0 and "ok, 2 templates" in out
    petal = grc.load_templates(PETAL)
    files = []
    for i, grid in enumerate(petal.points[1]):
        files.append(tmp_path / f"T{i}.json")
        files[-1].write_text(json.dumps((grid / 0.12).tolist()))
    folder = tmp_path / "set"
    time = ",".join(f"{v:g}" for v in petal.time)
    for name in ("first", "second"):
        code, _, err = run(capsys, "templates", "import", name, *files, "-o", folder, "--time", time,
                           "--morph", time, "--scale", 0.12)
        assert code == 0, err
    imported = grc.load_templates(folder)
    assert imported.names == ["first", "second"] and np.allclose(imported.points[0], petal.points[1])
    # a template that does not fit the set is refused and nothing is written
    code, _, err = run(capsys, "templates", "import", "odd", *files[:3], "-o", folder, "--scale", 0.12)
    assert code == 2 and "grid size" in err and len(list(folder.iterdir())) == 2
    # a name already in the set is refused, unless --replace: then it is replaced in its place
    first_file = sorted(folder.glob("*.json"))[0]
    before = first_file.read_bytes()
    args = ("templates", "import", "first", *files, "-o", folder, "--time", time, "--morph", time)
    code, _, err = run(capsys, *args, "--scale", 0.24)
    assert code == 2 and "already has a template named 'first'" in err
    assert first_file.read_bytes() == before
    code, out, err = run(capsys, *args, "--scale", 0.24, "--replace")
    assert code == 0 and "replaced" in out, err
    replaced = grc.load_templates(folder)
    assert replaced.names == ["first", "second"] and len(list(folder.iterdir())) == 2
    assert np.allclose(replaced.points[0], 2 * petal.points[1]) and np.allclose(replaced.points[1], petal.points[1])


@pytest.fixture
def bad_files(tmp_path, petal_model_file):
    bad = {}
    bad["missing"] = tmp_path / "missing.grc"
    (tmp_path / "damaged.grc").write_bytes(petal_model_file.read_bytes()[:500])
    bad["damaged"] = tmp_path / "damaged.grc"
    for name, text in {"malformed": '{"format": "grc-template/1", "name": ', "nan": None}.items():
        folder = tmp_path / name
        grc.load_templates(PETAL).save(folder)
        first = sorted(folder.glob("*.json"))[0]  # petal-a, the first in blend order
        first.write_text(text if text else first.read_text().replace("0.0", "NaN", 1))
        bad[name] = folder
    inconsistent = tmp_path / "inconsistent"
    grc.load_templates(PETAL).save(inconsistent)
    second = sorted(inconsistent.glob("*.json"))[1]
    data = json.loads(second.read_text())
    data["points"] = [[row[:5] for row in step] for step in data["points"]]
    second.write_text(json.dumps(data))
    bad["inconsistent"] = inconsistent
    return bad


@pytest.mark.parametrize("args, expected", [
    (["evaluate", "{missing}"], "missing.grc: no such file"),
    (["info", "{damaged}"], "damaged.grc: not a valid GRC model file"),
    (["train", "{malformed}", "-o", "{out}"], "-petal-a.json: not valid JSON"),
    (["train", "{nan}", "-o", "{out}"], ("-petal-a.json: ", "expected finite numbers")),
    (["templates", "validate", "{inconsistent}"], "-petal-b.json: points: expected the set's grid size"),
    (["train", "{malformed}", "-o", "{out}", "--preset", "fast"], "preset: expected one of default, article"),
    (["train", "{inconsistent}", "-o", "{out}", "--device", "tpu"], None),
    (["export", "{model}", "-o", "{out_obj}", "--blend", "half"], "--blend: expected a number"),
    (["export", "{model}", "-o", "{out_obj}", "--blend", "0.2,0.3,0.5"], "blend: expected one number"),
    (["export", "{model}", "-o", "{out_obj}", "--subdivide", "7"], "--subdivide: expected a value from 0 to 3"),
    (["export", "{model}", "-o", "{out_obj}", "--animate", "spin"], "--animate: expected one of time, blend"),
    (["export", "{model}", "-o", "{tmp}/x.fbx"], "output: expected a file ending in .obj, .ply, .stl, .glb"),
    (["export", "{model}", "-o", "{tmp}/no/such/folder/x.obj"], "does not exist"),
    (["export", "{model}", "--nope"], "No such option: --nope"),
    (["train", "{inconsistent}", "-o", "{out}", "--set", "steps=many"], "--set: config.steps: expected a number"),
    (["train", "{inconsistent}", "-o", "{out}", "--set", "colour=red"], "--set: expected KEY=VALUE"),
    (["train", "{malformed}"], "Missing option '-o'"),
    # every typed value is checked against its limit before any work
    (["train", "{inconsistent}", "-o", "{out}", "--seed", "2**64"], "Invalid value for '--seed'"),
    (["train", "{inconsistent}", "-o", "{out}", "--seed", str(2**64)], "--seed: expected a value from 0 to"),
    (["train", "{inconsistent}", "-o", "{out}", "--seed", "-1"], "--seed: expected a value from 0 to"),
    (["train", "{inconsistent}", "-o", "{out}", "--batch-size", "1000000000"], "--batch-size: expected a value"),
    (["train", "{inconsistent}", "-o", "{out}", "--steps", "0"], "--steps: expected a value from 1"),
    (["train", "{inconsistent}", "-o", "{out}", "--set", "decoder_hidden=1e8"], "--set: config.decoder_hidden"),
    (["train", "{inconsistent}", "-o", "{out}", "--set", "steps=true"], "--set: config.steps: expected a number"),
    (["train", "{inconsistent}", "-o", "{tmp}"], "output: expected a file ending in .grc"),
    (["train", "{inconsistent}", "-o", "{folder_grc}"], "expected a file name, found a folder"),
    (["export", "{model}", "-o", "{out_obj}", "--blend", "nan"], "--blend: expected a finite number"),
    (["export", "{model}", "-o", "{out_obj}", "--blend", "1e300"], "--blend: expected a value from -100 to 100"),
    (["export", "{model}", "-o", "{out_obj}", "--time", "nan"], "--time: expected a finite number"),
    (["export", "{model}", "-o", "{out_obj}", "--time", "1e308"], "--time: expected a value from"),
    (["export", "{model}", "-o", "{out_obj}", "--context", "nan"], "--context: expected a finite number"),
    (["export", "{model}", "-o", "{out_obj}", "--thickness", "inf"], "--thickness: expected a finite number"),
    (["export", "{model}", "-o", "{out_obj}", "--subdivide", "9"], "--subdivide: expected a value from 0 to 3"),
    (["export", "{model}", "-o", "{out_obj}", "--flower", "1000000"], "--flower: expected a value from 1 to 64"),
    (["export", "{model}", "-o", "{out_obj}", "--morph-samples", "100000000"], "--morph-samples: expected a value"),
    (["export", "{model}", "-o", "{tmp}/s.glb", "--animate", "time", "--frames", "10000000"],
     "--frames: expected a value from 2 to 1,000"),
    (["export", "{model}", "-o", "{tmp}/s.glb", "--animate", "time", "--start", "abc"], "--start: expected a number"),
    (["traces", "{model}", "-o", "{tmp}/t.png", "--time", "nan"], "--time: expected a finite number"),
    (["templates", "import", "", "{tmp}/a.json", "-o", "{tmp}/set"], "name: expected a name"),
    (["templates", "import", "red\x1b[31m\nline", "{tmp}/a.json", "-o", "{tmp}/set"], "\\x1b[31m\\nline"),
    (["templates", "import", "a", "{tmp}/a.json", "-o", "{tmp}/set", "--scale", "nan"], "--scale: expected a finite"),
    (["templates", "import", "a", "{tmp}/a.json", "-o", "{tmp}/set", "--rows", "100000"], "--rows: expected a value"),
    (["templates", "import", "a", "{tmp}/a.json", "-o", "{tmp}/set", "--time", "0,inf"], "--time: expected a finite"),
    (["studio", "--blend", "nan"], "--blend: expected a finite number"),
    (["studio", "--time", "1e308"], "--time: expected a value from"),
])
def test_user_mistakes_are_one_line_and_exit_2(bad_files, petal_model_file, tmp_path, capsys, args, expected):
    values = {**bad_files, "model": petal_model_file, "out": tmp_path / "out.grc", "out_obj": tmp_path / "o.obj",
              "tmp": tmp_path, "folder_grc": tmp_path / "folder.grc"}
    (tmp_path / "folder.grc").mkdir()
    code, out, err = run(capsys, *(a.format(**values) for a in args))
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err and "\x1b" not in err
    for part in (expected,) if isinstance(expected, str) else expected or ():
        assert part in err
    assert not (tmp_path / "out.grc").exists() and not (tmp_path / "o.obj").exists()


def test_failed_export_leaves_existing_file(petal_model_file, tmp_path, capsys):
    path = tmp_path / "keep.obj"
    path.write_text("an artist's file")
    code, _, _ = run(capsys, "export", petal_model_file, "-o", path, "--context", "1,2,3")
    assert code == 2 and path.read_text() == "an artist's file"


def test_console_script_exit_code(tmp_path):
    # the installed `grc` entry point, as a user runs it
    result = subprocess.run([sys.executable, "-c", "import sys; from grc.cli import main; sys.exit(main())",
                             "info", str(tmp_path / "nothing.grc")], capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip() == f"grc: {tmp_path / 'nothing.grc'}: no such file"


def test_studio_without_a_display_is_a_clear_error(capsys, monkeypatch):
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(name, raising=False)
    code, _, err = run(capsys, "studio")
    assert code == 2 and "no display" in err and "xvfb-run" in err


# -- issue 10: OS errors, write failures after training, interruptions, the unexpected ---------------

TINY = ["--steps", 40, "--batch-size", 32, "--set", "template_steps=20", "--set", "template_lbfgs_steps=10",
        "--set", "refine_steps=10", "--set", "decoder_hidden=8,8", "-q"]


def mount_tmpfs(folder, options):
    """Mount a small tmpfs at `folder` (root only); skip the test where that is not possible."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    return subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)],
                          capture_output=True).returncode == 0


@pytest.fixture
def read_only_folder(tmp_path):
    folder = tmp_path / "read-only"
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)
    elif mount_tmpfs(folder, "ro,size=1m"):
        yield folder
        subprocess.run(["umount", str(folder)])
    else:
        pytest.skip("needs a read-only folder: as root, a read-only tmpfs mount")


@pytest.mark.parametrize("command", ["train", "export", "traces", "blender-addon", "templates import"])
def test_an_unwritable_output_is_found_before_the_work(read_only_folder, petal_model_file, command, capsys):
    args = {"train": ["train", PETAL, "-o", read_only_folder / "m.grc"],
            "export": ["export", petal_model_file, "-o", read_only_folder / "m.obj"],
            "traces": ["traces", petal_model_file, "-o", read_only_folder / "t.png"],
            "blender-addon": ["blender-addon", "-o", read_only_folder / "a.zip"],
            "templates import": ["templates", "import", "a", PETAL / "missing.json", "-o", read_only_folder / "set"],
            }[command]
    code, out, err = run(capsys, *args)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert f"cannot write in {read_only_folder}" in err and "Traceback" not in err  # before the missing file


def test_a_write_failing_after_training_keeps_the_model(tmp_path, capsys, monkeypatch):
    # the disk fills while training: the rename into place fails with ENOSPC
    monkeypatch.setenv("GRC_STUDIO_RECOVERY", str(tmp_path / "recovery"))
    output = tmp_path / "petal.grc"
    output.write_bytes(b"the artist's previous model")
    replace = os.replace

    def full_disk(src, dst, *a, **k):
        if Path(dst) == output:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(dst))
        return replace(src, dst, *a, **k)

    monkeypatch.setattr(os, "replace", full_disk)
    code, out, err = run(capsys, "train", PETAL, "-o", output, *TINY)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert f"could not write {output}" in err and "No space left on device" in err
    kept = Path(err.strip().split("the trained model is kept at ")[1])
    assert kept.parent == tmp_path / "recovery" and grc.load_model(kept).templates.names == ["petal-a", "petal-b"]
    assert output.read_bytes() == b"the artist's previous model"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary file left


def test_a_full_disk_after_training_keeps_the_model(tmp_path, capsys, monkeypatch):
    # a real full disk: a 64 KiB tmpfs holds the output folder (the model needs about 100 KiB)
    small = tmp_path / "small"
    small.mkdir()
    if not mount_tmpfs(small, "size=64k"):
        pytest.skip("needs root to mount a small tmpfs")
    try:
        monkeypatch.setenv("GRC_STUDIO_RECOVERY", str(tmp_path / "recovery"))
        code, out, err = run(capsys, "train", PETAL, "-o", small / "petal.grc", *TINY)
        assert code == 2 and "No space left on device" in err and "the trained model is kept at" in err, err
        assert list(small.iterdir()) == []
        assert grc.load_model(next((tmp_path / "recovery").glob("petal-*.grc")))
    finally:
        subprocess.run(["umount", str(small)])


def start_training(output, *extra):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "grc.cli", "train", str(PETAL), "-o", str(output), *extra],
                            stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    timer = threading.Timer(300, proc.kill)  # never hang the suite
    timer.start()
    lines = []
    for line in proc.stderr:  # wait until training has started
        lines.append(line)
        if line.startswith("training:"):
            break
    return proc, timer, lines


@pytest.mark.parametrize("sig, existing", [(signal.SIGTERM, True), (signal.SIGINT, True), (signal.SIGTERM, False)])
def test_interrupting_training_writes_nothing(tmp_path, petal_model_file, sig, existing):
    output = tmp_path / "petal.grc"
    if existing:
        shutil.copy(petal_model_file, output)
    before = output.read_bytes() if existing else None
    proc, timer, lines = start_training(output)
    assert lines and lines[-1].startswith("training: template models"), lines
    time.sleep(0.5)
    proc.send_signal(sig)
    _, err = proc.communicate()
    timer.cancel()
    assert proc.returncode == 130, err
    what = "unchanged" if existing else "not created"
    # the last line (a phase's "training: ..." line may come before it: the template models now train while
    # PyTorch loads, so the next phase can start within the half second)
    assert err.strip().splitlines()[-1] == f"grc: interrupted; nothing written; {output} {what}"
    assert all(line.startswith("training: ") for line in err.strip().splitlines()[:-1]), err
    assert (output.read_bytes() == before) if existing else not output.exists()
    assert [p.name for p in tmp_path.iterdir()] == (["petal.grc"] if existing else [])


def test_os_errors_and_memory_are_one_line(tmp_path, capsys, monkeypatch):
    import grc.blender

    def disk_full(path):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(grc.blender, "build_addon", disk_full)
    code, _, err = run(capsys, "blender-addon", "-o", tmp_path / "a.zip")
    assert code == 2 and err == f"grc: {tmp_path / 'a.zip'}: No space left on device\n"

    def no_memory(path):
        raise MemoryError()

    monkeypatch.setattr(grc.blender, "build_addon", no_memory)
    code, _, err = run(capsys, "blender-addon", "-o", tmp_path / "a.zip")
    assert code == 2 and err.startswith("grc: out of memory") and len(err.splitlines()) == 1


def test_an_unexpected_error_names_its_log(tmp_path, petal_model_file, capsys, monkeypatch):
    import grc.metrics

    monkeypatch.setenv("GRC_STUDIO_RECOVERY", str(tmp_path / "recovery"))

    def bug(model):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(grc.metrics, "evaluate", bug)
    code, out, err = run(capsys, "evaluate", petal_model_file)
    assert code == 1 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "unexpected error (ZeroDivisionError: a bug)" in err
    log = Path(err.split("the details are in ")[1].split(";")[0])
    assert log.parent == tmp_path / "logs" and "Traceback" in log.read_text() and "a bug" in log.read_text()


def test_evaluate_json_is_always_json(petal_model_file, capsys, monkeypatch):
    import grc.metrics

    real = grc.metrics.evaluate

    def with_nan(model):
        metrics = real(model)
        metrics["interpolation_error"], metrics["extrapolation"]["1.5"] = float("nan"), float("inf")
        return metrics

    monkeypatch.setattr(grc.metrics, "evaluate", with_nan)
    code, out, _ = run(capsys, "evaluate", petal_model_file, "--json")

    def strict(name):
        raise ValueError(name)

    metrics = json.loads(out, parse_constant=strict)
    assert code == 0 and metrics["interpolation_error"] is None and metrics["extrapolation"]["1.5"] is None


def test_names_reach_the_terminal_printable(tmp_path, capsys):
    folder = tmp_path / "set\x1b[31m\nx"
    grc.load_templates(PETAL).save(folder)
    code, out, _ = run(capsys, "templates", "validate", folder)
    assert code == 0 and len(out.strip().splitlines()) == 1 and "\x1b" not in out and "\\x1b[31m\\nx" in out


STARTUP_INTERRUPT = """
import importlib.abc, os, signal, sys
class Interrupt(importlib.abc.MetaPathFinder):  # Ctrl+C exactly while the CLI imports {module}
    def find_spec(self, name, path, target=None):
        if name == {module!r}:
            sys.meta_path.remove(self)
            os.kill(os.getpid(), signal.SIGINT)
        return None
sys.meta_path.insert(0, Interrupt())
from grc.command import main
sys.exit(main())
"""


@pytest.mark.parametrize("module", ["numpy", "typer"])
def test_ctrl_c_while_the_command_starts_is_one_line(module):
    # a Ctrl+C in the command's first few tenths of a second (its imports) printed a KeyboardInterrupt traceback,
    # or numpy's "bad install" ImportError when it cut numpy's import short
    done = subprocess.run([sys.executable, "-c", STARTUP_INTERRUPT.format(module=module), "info", str(PETAL)],
                          capture_output=True, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 130 and done.stderr == "grc: interrupted; nothing written\n", done.stderr
    assert done.stdout == ""


def test_ctrl_c_while_the_arguments_are_read_is_one_line(capsys, monkeypatch):
    # typer answers a Ctrl+C outside a command's work (while it parses) with a silent exit 130
    import typer

    command_class = type(typer.main.get_command(grc.cli.app))

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(command_class, "make_context", interrupted)
    code, out, err = run(capsys, "info", PETAL)
    assert code == 130 and err == "grc: interrupted; nothing written\n" and out == ""


def test_train_many_prints_a_failed_sets_name_safely(tmp_path, capsys):
    # a set's folder name went to the terminal raw: its escape codes with it
    folder = tmp_path / "sets" / "bad\x1b[31mRED"
    folder.mkdir(parents=True)
    (folder / "00-a.json").write_text("{}")
    code, _, err = run(capsys, "train-many", tmp_path / "sets", "-o", tmp_path / "out")
    assert code == 2 and "\x1b" not in err and "bad\\x1b[31mRED" in err


def test_the_safe_blend_range_of_a_big_set_is_measured_at_some_time_steps_and_says_so(capsys, monkeypatch):
    # a big set (a 64 x 64 grid, six templates, twenty time steps) had `grc train` measure for minutes after saving
    import grc.metrics

    model = grc.load_model(ROOT / "meshes" / "petal.grc")
    inner = [f"{t:g}" for t in model.templates.time[1:-1]]
    assert list(grc.metrics.evaluate(model)["safe_blend_range"]) == inner  # the petal: every one
    monkeypatch.setattr(grc.metrics, "SAFE_RANGE_WORK", 2 * 141 * 625)  # as if it were a big set: two fit
    metrics = grc.metrics.evaluate(model)
    assert list(metrics["safe_blend_range"]) == [inner[0], inner[-1]]
    assert metrics["safe_blend_range_time_steps"] == f"2 of {len(inner)}"
    assert "measured at 2 of 5 inner time steps" in grc.cli.metrics_table(metrics)


def test_a_long_output_name_is_written_or_refused_before_the_work(tmp_path, capsys, monkeypatch):
    """A 250-character name is a valid file name, but the temporary file beside it (.<name>.XXXXXXXX.tmp) was not, nor
    the recovery copy's <name>-<time>-<pid>.grc: `grc train` failed after training and lost the trained model ("could
    not write ... keeping the trained model in ... failed too (File name too long)"). A name the file system cannot
    hold is refused before any work, in words."""
    monkeypatch.setenv("GRC_STUDIO_RECOVERY", str(tmp_path / "recovery"))
    fast = ["--steps", "30", "--batch-size", "32", "--set", "template_steps=20", "--set", "template_lbfgs_steps=0",
            "--set", "refine_steps=0", "--set", "refine_extrapolations=0", "--set", "refine_repairs=0", "-q"]
    long = tmp_path / ("p" * 246 + ".grc")  # 250 bytes
    code, _, err = run(capsys, "train", PETAL, "-o", long, *fast)
    assert code == 0, err
    assert grc.load_model(long).names == ["petal-a", "petal-b"] and sorted(os.listdir(tmp_path)) == [long.name]
    code, _, err = run(capsys, "export", long, "-o", tmp_path / ("é" * 125 + ".obj"))  # 254 bytes
    assert code == 0, err
    too_long = tmp_path / ("q" * 252 + ".grc")  # 256 bytes
    code, _, err = run(capsys, "train", PETAL, "-o", too_long, *fast)
    assert code == 2 and err.strip() == f"grc: {too_long}: --output: expected a file name of at most 255 bytes, got 256"
    with pytest.raises(grc.GRCError, match="cannot write: expected a file name of at most 255 bytes, got 256"):
        grc.load_model(long).save(too_long)
    assert not (tmp_path / "recovery").exists() and len(os.listdir(tmp_path)) == 2


def test_a_recovery_copy_of_a_model_whose_name_is_as_long_as_a_name_can_be_is_kept(petal_model, tmp_path, monkeypatch):
    """The recovery copy's name took the first 100 characters of the output's, not bytes: an output name of 80
    CJK characters (240 bytes, valid) made a 266-byte recovery name, and a trained model whose output failed was
    lost with it (a review). The app's copy (trained-<name>-<time>.grc) did not cut at all."""
    from grc.cli import keep_trained
    from grc.io import RECOVERY_NAME_BYTES, recovery_path

    monkeypatch.setenv("GRC_STUDIO_RECOVERY", str(tmp_path / "recovery"))
    output = tmp_path / ("花" * 80 + ".grc")
    kept = keep_trained(petal_model, output)
    assert grc.load_model(kept).names == petal_model.names and kept.parent == tmp_path / "recovery"
    assert len(os.fsencode(kept.name)) <= 255 and kept.name.startswith("花" * (RECOVERY_NAME_BYTES // 3))
    path = recovery_path("trained-" + "é" * 120, "20261201-120000")
    assert len(os.fsencode(path.name)) <= RECOVERY_NAME_BYTES + len("-20261201-120000.grc")
    assert path.parent.is_dir() and path.name.endswith("-20261201-120000.grc")


@pytest.mark.parametrize("args, expected", [
    (["--times", "0.5"], "times: expected at least two different times (the map's rows), got 0.5"),
    (["--times", "0.55,0.55"], "times: expected at least two different times (the map's rows), got 0.55"),
    (["--low", "0", "--high", "0.05", "--step", "0.1"], "step: expected at least two blends: a step of 0.1 from 0 to "
                                                         "0.05 gives one"),
])
def test_a_map_of_one_row_or_column_is_one_line(petal_model_file, tmp_path, capsys, args, expected):
    """`grc map` of one time (or one blend) crashed in matplotlib's contour, exit 1 ("unexpected error (TypeError: Input
    z must be at least a (2, 2) shaped array, but has shape (1, 41))")."""
    out = tmp_path / "map.png"
    code, _, err = run(capsys, "map", petal_model_file, "-o", out, "--subdivide", "0", *args)
    assert code == 2 and err.strip() == f"grc: {expected}" and not out.exists()
    code, _, err = run(capsys, "map", petal_model_file, "-o", out, "--subdivide", "0", "--times", "0.3,0.55",
                       "--step", "1")
    assert code == 0 and out.exists(), err  # two of each: a map


def test_a_map_of_three_templates_whose_lowest_weight_leaves_no_blend_is_one_line(leaf_model, tmp_path, capsys):
    """Three weights each at least 0.34 sum past 1: the map crashed ("cannot reshape array of size 0 ...", exit 1)."""
    model = leaf_model.save(tmp_path / "leaf.grc")
    out = tmp_path / "map.png"
    code, _, err = run(capsys, "map", model, "-o", out, "--subdivide", "0", "--times", "0.5", "--low", "0.34")
    assert code == 2 and not out.exists()
    assert err.strip() == "grc: low: expected a lowest weight of at most 1/3 for a map of three templates, got 0.34"


@pytest.mark.parametrize("text", ["3", "3x", "x3", "3x3x3", "٣x٣", "３x３", "2.5x2", "1x1", "9x2"])
def test_a_population_grid_that_is_not_two_plain_numbers_is_one_line(text, tmp_path, capsys):
    """`--population ٣x٣` (Arabic-Indic digits, which Python's int() reads) trained a 3 x 3 population (a
    helper's sweep): a grid is ASCII digits only, as everything else on the command line."""
    code, _, err = run(capsys, "train", PETAL, "-o", tmp_path / "m.grc", "--population", text)
    assert code == 2 and err.startswith("grc: --population: expected") and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "m.grc").exists()
