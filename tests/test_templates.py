"""Template files, template sets and the importers: round trips, the bundled sets, and every bad input."""

import json

import numpy as np
import pytest

import grc
from grc.errors import GRCError
from grc.templates import Template, TemplateSet, check_set, load_template, load_template_set

from grc_testing import LEAF, PETAL, SPROUT


def test_petal_is_the_articles_data(petal):
    assert petal.names == ["petal-a", "petal-b"]
    assert petal.grid_shape == (7, 7, 7)
    assert petal.time.tolist() == [0, 0.1, 0.3, 0.55, 0.8, 1.0, 1.1] == petal.morph.tolist()
    gap = np.abs(petal.points[0] - petal.points[1]).max(axis=(1, 2, 3))
    assert gap[:2].max() < 1e-6 and gap[2:].min() > 0.1  # a shared bloom, then diverging
    tip = petal.points[:, :, 6].mean(axis=2)  # (template, time, xyz): Z up, as drawn in Blender
    assert (tip[:, 0, 2] > 0.8).all() and (tip[:, 6, 0] > 0.6).all() and (tip[:, 6, 2] < -0.4).all()
    assert 1.2 < np.ptp(petal.points[..., 0]) < 1.6  # the 0.12 scale: the petal spans about 1.4 units
    assert all("Relational-Context" in t.attribution for t in petal)
    assert "Apache License" in (PETAL / "LICENSE").read_text()


@pytest.mark.parametrize("folder, K, shape", [(LEAF, 3, (5, 9, 9)), (SPROUT, 2, (4, 9, 5))])
def test_other_example_sets_differ_in_size(folder, K, shape):
    s = load_template_set(folder)
    assert (len(s), s.grid_shape) == (K, shape)


def test_template_set_round_trip(petal, tmp_path):
    petal.save(tmp_path)
    again = load_template_set(tmp_path)
    assert again.names == petal.names
    assert np.array_equal(again.points, petal.points)  # exact: floats are written with full precision
    assert np.array_equal(again.time, petal.time) and np.array_equal(again.morph, petal.morph)
    assert [t.attribution for t in again] == [t.attribution for t in petal]


def test_template_file_is_the_documented_format(tmp_path):
    points = np.arange(2 * 3 * 2 * 3, dtype=float).reshape(2, 3, 2, 3)
    Template("open", [0, 1], [0, 0.5, 1], points).save(tmp_path / "t.json")
    data = json.loads((tmp_path / "t.json").read_text())
    assert data["format"] == "grc-template/1" and data["name"] == "open"
    assert data["time"] == [0, 1] and data["morph"] == [0, 0.5, 1]
    assert np.array_equal(data["points"], points)  # [time][morph row][point][xyz]


def _write(tmp_path, data, name="bad.json"):
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def _good():
    return {"format": "grc-template/1", "name": "a", "time": [0, 1], "morph": [0, 1],
            "points": grid(2, 2, 2).tolist()}


def grid(T, M, N):
    """A T x M x N grid of distinct points (the first at 0.0): a shape, however plain."""
    return np.arange(T * M * N * 3, dtype=float).reshape(T, M, N, 3) / 10


@pytest.mark.parametrize("change, field", [
    (lambda d: d.pop("points"), "points"),
    (lambda d: d.update(format="grc-template/9"), "format"),
    (lambda d: d.update(name=""), "name"),
    (lambda d: d.update(time=[1, 0]), "time"),
    (lambda d: d.update(time=[0, 1e-300]), "time"),  # trained for minutes, then failed to save (NaN)
    (lambda d: d.update(morph=[5e5, 5e5 + 1e-3]), "morph"),  # float32 training cannot tell them apart
    (lambda d: d.update(morph=[0, 0.5, 1]), "points"),  # 3 morph values but 2 rows
    (lambda d: d.update(points=[[[[0, 0]]]]), "points"),
    (lambda d: d["points"][0][0].append([[1, 2, 3]]), "points"),  # ragged
    (lambda d: d["points"][0][0][0].__setitem__(0, "x"), "points"),
])
def test_malformed_template_names_file_and_field(tmp_path, change, field):
    data = _good()
    change(data)
    path = _write(tmp_path, data)
    with pytest.raises(GRCError) as e:
        load_template(path)
    assert e.value.field == field and str(path) in str(e.value)


def test_a_huge_integer_and_a_grid_of_the_wrong_depth_are_one_clear_line(tmp_path):
    from grc.importers import read_grid_json

    text = json.dumps(_good()).replace("0.0", str(10 ** 400), 1)
    with pytest.raises(GRCError, match="points: expected numbers within .* an integer too large"):
        load_template(_write(tmp_path, text))
    deep = tmp_path / "grid.json"
    deep.write_text(json.dumps([[[[0, 0, 0]] * 3] * 4]))  # four levels: a list of grids, not one grid
    with pytest.raises(GRCError) as e:
        read_grid_json(deep)
    assert str(e.value).count(str(deep)) == 1 and str(e.value).count("points:") == 1


def test_nan_and_infinity_are_rejected(tmp_path):
    text = json.dumps(_good()).replace("0.0", "NaN", 1)
    with pytest.raises(GRCError, match="finite"):
        load_template(_write(tmp_path, text))
    data = _good()
    data["points"][1][1][1][2] = 1e999  # JSON's overflow to infinity
    with pytest.raises(GRCError, match="finite"):
        load_template(_write(tmp_path, json.dumps(data).replace("Infinity", "1e999")))


def test_broken_json_and_missing_file(tmp_path):
    with pytest.raises(GRCError, match="not valid JSON"):
        load_template(_write(tmp_path, '{"format": '))
    with pytest.raises(GRCError, match="no such"):
        load_template(tmp_path / "nope.json")
    with pytest.raises(GRCError, match="no such folder"):
        load_template_set(tmp_path / "nope")


def test_inconsistent_sets_are_rejected(tmp_path):
    a = Template("a", [0, 1], [0, 1], grid(2, 2, 2))
    with pytest.raises(GRCError, match="at least 2"):
        check_set([a])
    with pytest.raises(GRCError, match="duplicate"):
        check_set([a, Template("a", [0, 1], [0, 1], grid(2, 2, 2) + 1)])
    with pytest.raises(GRCError, match="grid size") as e:
        check_set([a, Template("b", [0, 1], [0, 1], grid(2, 2, 3))])
    assert e.value.field == "points"
    with pytest.raises(GRCError, match="relational map") as e:
        check_set([a, Template("b", [0, 0.9], [0, 1], grid(2, 2, 2))])
    assert e.value.field == "time"
    # and through files: the error names the odd file
    TemplateSet([a, Template("b", [0, 1], [0, 1], grid(2, 2, 2) + 1)]).save(tmp_path)
    Template("c", [0, 1], [0, 1], grid(2, 2, 3)).save(tmp_path / "2-c.json")
    with pytest.raises(GRCError) as e:
        load_template_set(tmp_path)
    assert "2-c.json" in str(e.value)


def test_public_api_names():
    assert grc.load_templates is grc.load_template_set
    assert callable(grc.train) and callable(grc.export)


@pytest.mark.parametrize("points, found", [
    (np.zeros((2, 2, 2, 3)), "all 8 points at (0, 0, 0)"),
    (np.ones((2, 2, 2, 3)) * [[[[0.0]]], [[[2.0]]]], "each time step's 4 points at one place"),
])
def test_a_template_that_is_one_point_is_refused(tmp_path, capsys, points, found):
    """A template whose points all coincide (at every time step) has no shape: `grc templates validate` said "ok", and
    `grc train` on it ran for minutes judging collapsed grids (the petal's set in 2.5 s with --steps 30 and no refine;
    with its points all at 0, over 200 s). A time step that is one point (a bud) is still a shape's start."""
    from grc.cli import main

    data = _good()
    data["points"] = points.tolist()
    folder = tmp_path / "set"
    folder.mkdir()
    _write(folder, data, "0-a.json")
    _write(folder, {**_good(), "name": "b"}, "1-b.json")
    with pytest.raises(GRCError) as e:
        load_template(folder / "0-a.json")
    assert e.value.field == "points" and e.value.message == f"expected a shape, found {found}"
    assert main(["templates", "validate", str(folder)]) == 2
    assert capsys.readouterr().err.strip() == f"grc: {folder / '0-a.json'}: points: expected a shape, found {found}"
    assert main(["train", str(folder), "-o", str(tmp_path / "m.grc")]) == 2  # at once, before any training
    assert not (tmp_path / "m.grc").exists()
    bud = grid(2, 2, 2)
    bud[0] = 0.0
    assert load_template(_write(tmp_path, {**_good(), "points": bud.tolist()})).points[0].max() == 0
