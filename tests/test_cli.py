"""The `grc` command line, driven as a user would: real files in, real files out, one-line errors."""

import json
import subprocess
import sys

import numpy as np
import pytest
import trimesh

import grc
from grc.cli import main
from grc.formats import to_y_up
from grc_testing import PETAL


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
    before = (folder / "00-first.json").read_bytes()
    args = ("templates", "import", "first", *files, "-o", folder, "--time", time, "--morph", time)
    code, _, err = run(capsys, *args, "--scale", 0.24)
    assert code == 2 and "already has a template named 'first'" in err
    assert (folder / "00-first.json").read_bytes() == before
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
        first = folder / "00-petal-a.json"
        first.write_text(text if text else first.read_text().replace("0.0", "NaN", 1))
        bad[name] = folder
    inconsistent = tmp_path / "inconsistent"
    grc.load_templates(PETAL).save(inconsistent)
    data = json.loads((inconsistent / "01-petal-b.json").read_text())
    data["points"] = [[row[:5] for row in step] for step in data["points"]]
    (inconsistent / "01-petal-b.json").write_text(json.dumps(data))
    bad["inconsistent"] = inconsistent
    return bad


@pytest.mark.parametrize("args, expected", [
    (["evaluate", "{missing}"], "missing.grc: no such file"),
    (["info", "{damaged}"], "damaged.grc: not a valid GRC model file"),
    (["train", "{malformed}", "-o", "{out}"], "0-petal-a.json: not valid JSON"),
    (["train", "{nan}", "-o", "{out}"], "0-petal-a.json: expected finite numbers"),
    (["templates", "validate", "{inconsistent}"], "1-petal-b.json: points: expected the set's grid size"),
    (["train", "{malformed}", "-o", "{out}", "--preset", "fast"], "preset: expected one of default, article"),
    (["train", "{inconsistent}", "-o", "{out}", "--device", "tpu"], None),
    (["export", "{model}", "-o", "{out_obj}", "--blend", "half"], "--blend: expected a number"),
    (["export", "{model}", "-o", "{out_obj}", "--blend", "0.2,0.3,0.5"], "blend: expected one number"),
    (["export", "{model}", "-o", "{out_obj}", "--subdivide", "7"], "subdivide: expected a value from 0 to 3"),
    (["export", "{model}", "-o", "{out_obj}", "--animate", "spin"], "--animate: expected one of time, blend"),
    (["export", "{model}", "-o", "{tmp}/x.fbx"], "output: expected a file ending in .obj, .ply, .stl, .glb"),
    (["export", "{model}", "-o", "{tmp}/no/such/folder/x.obj"], "does not exist"),
    (["export", "{model}", "--nope"], "No such option: --nope"),
    (["train", "{inconsistent}", "-o", "{out}", "--set", "steps=many"], "--set: config.steps: expected a number"),
    (["train", "{inconsistent}", "-o", "{out}", "--set", "colour=red"], "--set: expected KEY=VALUE"),
    (["train", "{malformed}"], "Missing option '-o'"),
])
def test_user_mistakes_are_one_line_and_exit_2(bad_files, petal_model_file, tmp_path, capsys, args, expected):
    values = {**bad_files, "model": petal_model_file, "out": tmp_path / "out.grc", "out_obj": tmp_path / "o.obj",
              "tmp": tmp_path}
    code, out, err = run(capsys, *(a.format(**values) for a in args))
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    if expected:
        assert expected in err
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
