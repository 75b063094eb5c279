"""A look checked against a model (Look.check): what `grc export --look`, the app and the add-on refuse
alike, before anything is applied, naming the look's file and the field."""

import json

import numpy as np
import pytest

import grc
from grc.diverge.bend import Bend, Look, load_look

from grc_testing import ROOT

PETAL_MODEL = ROOT / "meshes" / "petal.grc"


@pytest.fixture(scope="module")
def model():
    return grc.load_model(PETAL_MODEL)


def write_look(tmp_path, **look):
    path = tmp_path / "look.json"
    path.write_text(json.dumps({"format": "grc-look/1", **look}))
    return path


@pytest.mark.parametrize("look, field, expected", [
    ({"bends": [{"op": "ablate", "layer": 1, "units": [3, 40, 130]}]}, "bends[0].units",
     "layer 1 of this model's decoder has 128 units (0 to 127), got 130"),
    ({"bends": [{"op": "scale", "layer": 0}, {"op": "scale", "layer": 5}]}, "bends[1].layer",
     "this model's decoder has 2 hidden layers (0 to 1), got 5"),
    ({"blend": [0.2, 0.3, 0.5], "bends": []}, "blend", "or 2 weights, got 3 values"),
    ({"context": [[0.9]] * 3, "bends": []}, "context", "got shape (3, 1)"),
])
def test_a_look_that_does_not_fit_is_refused_naming_file_and_field(model, tmp_path, look, field, expected):
    path = write_look(tmp_path, **look)
    with pytest.raises(grc.GRCError) as e:
        load_look(path).check(model)
    assert e.value.path == path and e.value.field == field and expected in e.value.message
    assert str(e.value).startswith(f"{path}: {field}: ")


def test_the_check_and_the_shape_refuse_a_bend_the_same_way(model, tmp_path):
    """`grc export --look` goes through Look.shape: the same file, field and message as Look.check."""
    path = write_look(tmp_path, bends=[{"op": "ablate", "layer": 1, "units": [3, 40, 130]}])
    look = load_look(path)
    with pytest.raises(grc.GRCError) as checked:
        look.check(model)
    with pytest.raises(grc.GRCError) as shaped:
        look.shape(model, 0.8, 0.5)
    assert str(checked.value) == str(shaped.value)


def test_a_look_that_fits_passes_and_loads_as_before(model, tmp_path):
    look = Look([Bend("ablate", 1, list(range(128))), Bend("scale", 0, {"cluster": 7, "clusters": 8, "seed": 2}),
                 Bend("warp", "morph", amount=0.1)], blend=np.array([0.3]),
                context=model.context(0.8, 0.3))
    assert look.check(model) is look
    path = look.save(tmp_path / "fits.json")
    assert load_look(path).check(model).to_json() == look.to_json()
    assert Look([], context=[0.9]).check(model) is not None  # one context for every row


def test_one_number_is_not_a_blend_of_three_templates(leaf_model, tmp_path):
    path = write_look(tmp_path, blend=[0.5], bends=[])
    with pytest.raises(grc.GRCError, match="expected 3 weights") as e:
        load_look(path).check(leaf_model)
    assert e.value.path == path and e.value.field == "blend"
    assert load_look(write_look(tmp_path, blend=[0.2, 0.3, 0.5], bends=[])).check(leaf_model)


@pytest.mark.parametrize("context", [[1.0, 2.0, 3.0], [[[0.9]]], [[0.9]] * 3])
def test_export_names_the_look_whose_own_context_does_not_fit(tmp_path, capsys, context):
    """`grc export --look` with a look whose own context path is of another size: one line naming the look's
    file and its context (it named neither: "grc: look.context: expected ...")."""
    from grc.cli import main

    path = write_look(tmp_path, context=context, bends=[])
    code = main(["export", str(PETAL_MODEL), "-o", str(tmp_path / "out.obj"), "--look", str(path)])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert err.startswith(f"grc: {path}: context: expected a context of 1 values")
    assert not (tmp_path / "out.obj").exists()
