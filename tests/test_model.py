"""Trained models (real PyTorch training at small sizes): shapes, traces, blends, files, and damaged files."""

import json
import os
import pickle
import struct

import numpy as np
import pytest
import torch

import grc
import grc.examples
from grc import bundle
from grc.errors import GRCError, WriteError
from grc.model import GRCModel
from grc.training import Cancelled
from grc_testing import small_config


def test_shape_is_a_grid_of_the_templates_size(petal_model):
    grid = petal_model.shape(0.8, 0.5)
    assert grid.shape == (7, 7, 3) and np.isfinite(grid).all()
    assert petal_model.shape(0.8, 0.5, morph=15).shape == (15, 7, 3)  # morph sampled more densely


def test_blend_moves_between_the_templates(petal_model):
    # at time 0.8 the templates differ; blend 0 and 1 come out near each, 0.5 in between
    pts = petal_model.templates.points[:, 4]
    a, half, b = (petal_model.shape(0.8, alpha) for alpha in (0, 0.5, 1))
    d = (pts[1] - pts[0]).ravel()
    position = [np.dot((g - pts[0]).ravel(), d) / np.dot(d, d) for g in (a, half, b)]
    assert position[0] < 0.3 and 0.3 < position[1] < 0.7 and position[2] > 0.7


def test_blend_two_numbers_equal_one(petal_model):
    assert np.allclose(petal_model.shape(0.5, 0.3), petal_model.shape(0.5, [0.7, 0.3]))


def test_traces_equal_where_templates_are_equal(petal_model):
    traces = petal_model.traces()  # (K, T, M, C)
    assert traces.shape == (2, 7, 7, 1)
    early = np.abs(traces[0, :2] - traces[1, :2]).mean()
    late = np.abs(traces[0, 4:] - traces[1, 4:]).mean()
    assert late > 10 * early


def test_repeated_traces_are_the_same_and_safe_to_change(petal_model):
    """The model remembers recent traces (a slider move asks for them several times); what it hands
    out is a copy, so a caller writing into it cannot change later shapes."""
    first = petal_model.traces(0.8, 16)
    expected = petal_model.shape(0.8, 0.3)
    first[:] = 123.0
    again = petal_model.traces(0.8, 16)
    assert not np.any(again == 123.0)
    np.testing.assert_array_equal(petal_model.shape(0.8, 0.3), expected)
    uncached = GRCModel(petal_model.config, petal_model.templates, petal_model.weights).traces(0.8, 16)
    np.testing.assert_array_equal(again, uncached)
    for t in np.linspace(0, 1.1, 20):  # more than it keeps: older ones are computed again, the same
        petal_model.traces(t, 16)
    np.testing.assert_array_equal(petal_model.traces(0.8, 16), uncached)


def test_remembered_traces_are_the_computed_ones(petal_model, monkeypatch):
    """An app precomputes the traces at every slider time in batches; shapes must not change."""
    monkeypatch.setattr(grc.model, "REMEMBER_ROWS", 200)  # batches of 3 times: the seams are checked too
    fresh = GRCModel(petal_model.config, petal_model.templates, petal_model.weights)
    times = np.linspace(0, 1.1, 101)
    fresh.remember_traces(times, 32)
    fresh.remember_traces(times, None)
    # batched and single evaluation may round differently (BLAS kernels differ by batch size and
    # machine: 4e-16 was seen); float64 agreement, not bit equality, is what a user can notice
    close = dict(rtol=1e-12, atol=1e-12)
    for t in times[[0, 37, 38, 39, 100]]:
        np.testing.assert_allclose(fresh.traces(t, 32), petal_model.traces(t, 32), **close)
        np.testing.assert_allclose(fresh.shape(t, 0.3), petal_model.shape(t, 0.3), **close)
    np.testing.assert_allclose(fresh.traces(0.123, 32), petal_model.traces(0.123, 32), **close)  # not remembered


def test_shape_at_a_trace_is_decode_of_that_context(petal_model):
    m = petal_model
    context = m.traces(0.55)[1, 0]  # (M, C): the second template's trace
    assert np.allclose(m.shape(0.55, 1.0), m.decode(np.full(7, 0.55), m.templates.morph, context))
    assert np.allclose(m.shape(0.55, context=context), m.shape(0.55, 1.0))


def test_numpy_runtime_matches_the_torch_networks(petal):
    # the numpy forward pass (used by the app and Blender) equals the networks training produced
    from grc.model import layer_sizes
    from grc.training import MLP

    model = grc.train(petal, small_config(steps=50, refine_steps=0, template_steps=50, template_lbfgs_steps=0),
                      device="cpu")
    sizes = layer_sizes(model.config, 7, 21)
    enc = MLP(sizes["encoder"])
    for i, (w, b) in enumerate(zip(enc.weights, enc.biases)):
        w.data = torch.tensor(model.weights[f"encoder.{i}.weight"])
        b.data = torch.tensor(model.weights[f"encoder.{i}.bias"])[None]
    rows = petal.points[1, 3]  # (M, N, 3)
    x = torch.tensor((rows.reshape(7, 21) - model.weights["row_mean"]) / model.weights["row_scale"][0])
    context = enc(x).detach().numpy()[:, 2:]
    assert np.allclose(model.encode(rows)[:, 2:], context, atol=1e-9)


def test_same_seed_same_model_other_seed_other_model(petal):
    config = small_config(steps=100, refine_steps=20, template_steps=50, template_lbfgs_steps=10)
    a, b = (grc.train(petal, config, device="cpu") for _ in range(2))
    c = grc.train(petal, config.replace(seed=1), device="cpu")
    assert all(np.array_equal(a.weights[k], b.weights[k]) for k in a.weights)
    assert not np.array_equal(a.weights["decoder.0.weight"], c.weights["decoder.0.weight"])


def test_progress_reports_every_phase_and_cancel_stops(petal):
    seen = []
    grc.train(petal, small_config(steps=100, refine_steps=40, template_steps=50, template_lbfgs_steps=10),
              device="cpu", callback=seen.append)
    phases = [p.phase for p in seen]
    assert phases.index("templates") < phases.index("relational") < phases.index("refine")
    assert seen[-1].step == seen[-1].total and all(np.isfinite(p.loss) for p in seen)

    def cancel(p):
        if p.phase == "relational":
            raise Cancelled()
    with pytest.raises(Cancelled):
        grc.train(petal, small_config(), device="cpu", callback=cancel)


def test_context_dims_zero_and_two(petal):
    config = small_config(steps=100, refine_steps=20, template_steps=50, template_lbfgs_steps=10)
    none = grc.train(petal, config.replace(context_dims=0), device="cpu")
    assert none.traces().shape == (2, 7, 7, 0)
    assert np.allclose(none.shape(0.8, 0.0), none.shape(0.8, 1.0))  # without context every blend is the same
    two = grc.train(petal, config.replace(context_dims=2), device="cpu")
    assert two.traces().shape == (2, 7, 7, 2) and two.shape(0.8, 0.5).shape == (7, 7, 3)


def test_three_templates_take_weights(leaf_model):
    assert leaf_model.shape(0.5, [0.2, 0.3, 0.5]).shape == (9, 9, 3)
    with pytest.raises(GRCError, match="3 weights") as e:
        leaf_model.shape(0.5, 0.5)
    assert e.value.field == "blend"


def test_article_preset_is_the_articles_setup():
    c = grc.Config.from_preset("article")
    assert (c.template_hidden, c.encoder_hidden, c.decoder_hidden) == ((10, 15), (15, 10), (10, 15))
    assert c.final_activation and c.batch_size == 1 and c.steps == 100_000 and c.context_mask == 0.05
    assert (c.lr_encoder, c.lr_decoder) == (1e-4, 2e-4)


def test_unavailable_device_is_a_clear_error(petal):
    with pytest.raises(GRCError, match="auto, cpu or cuda"):
        grc.train(petal, small_config(), device="tpu")
    if not torch.cuda.is_available():
        with pytest.raises(GRCError, match="CUDA"):
            grc.train(petal, small_config(), device="cuda")


# -- files --------------------------------------------------------------------------------------


def test_model_file_round_trip(petal_model, petal_model_file):
    again = grc.load_model(petal_model_file)
    assert again.names == petal_model.names and again.config == petal_model.config
    assert np.array_equal(again.templates.points, petal_model.templates.points)
    # float32 weights on disk: shapes agree to float32 precision
    assert np.allclose(again.shape(0.8, 1.6), petal_model.shape(0.8, 1.6), atol=1e-5)
    again.save(petal_model_file.with_name("again.grc"))
    assert np.array_equal(grc.load_model(petal_model_file.with_name("again.grc")).shape(0.3, 0.2),
                          again.shape(0.3, 0.2))


def test_model_file_is_plain_safetensors(petal_model_file):
    from safetensors.numpy import load_file, safe_open

    tensors = load_file(str(petal_model_file))  # the reference reader agrees with ours
    assert "decoder.0.weight" in tensors
    with safe_open(str(petal_model_file), "np") as f:
        meta = f.metadata()
    assert meta["format"] == "grc-model/1"
    assert json.loads(meta["templates"])[0]["format"] == "grc-template/1"
    assert b"\x80\x04" not in petal_model_file.read_bytes()[:16]  # no pickle protocol header


def _patched(path, target, change):
    tensors, meta = bundle.load(path)
    change(tensors, meta)
    bundle.save(target, tensors, meta)
    return target


@pytest.mark.parametrize("change, message", [
    (lambda t, m: m.update(format="grc-model/2"), "newer"),
    (lambda t, m: m.update(format="something-else"), "not a GRC model"),
    (lambda t, m: m.pop("config"), "missing"),
    (lambda t, m: m.update(config="{not json"), "not valid JSON"),
    (lambda t, m: m.update(config=json.dumps({"steps": "many"})), "expected a number"),
    (lambda t, m: m.update(templates="[]"), "at least 2"),
    (lambda t, m: t.pop("decoder.0.weight"), "missing weights"),
    (lambda t, m: t.update({"decoder.0.weight": np.zeros((3, 3), np.float32)}), "expected shape"),
    (lambda t, m: t["decoder.1.bias"].__setitem__(0, np.nan), "NaN"),
    (lambda t, m: t.update(extra=np.zeros(1, np.float32)), "unexpected"),
])
def test_damaged_model_content(petal_model_file, tmp_path, change, message):
    path = _patched(petal_model_file, tmp_path / "bad.grc", change)
    with pytest.raises(GRCError, match=message) as e:
        grc.load_model(path)
    assert str(path) in str(e.value)


class Boom:
    def __reduce__(self):
        return (os.system, ("touch /tmp/grc-pwned",))


@pytest.mark.parametrize("make", [
    lambda good: b"",
    lambda good: good[: len(good) // 2],  # truncated
    lambda good: struct.pack("<Q", 2 ** 40) + good[8:],  # header length beyond the file
    lambda good: struct.pack("<Q", 4) + b"[1,2]" + good[13:],
    lambda good: b"\x00" * 64,
    lambda good: pickle.dumps(Boom()),  # a pickle renamed .grc is rejected, never unpickled
    lambda good: b"PK\x03\x04" + os.urandom(200),  # a torch.save zip
])
def test_hostile_or_damaged_bytes(petal_model_file, tmp_path, make):
    path = tmp_path / "bad.grc"
    path.write_bytes(make(petal_model_file.read_bytes()))
    with pytest.raises(GRCError, match=str(path)):
        grc.load_model(path)
    assert not os.path.exists("/tmp/grc-pwned")


def test_offsets_outside_the_file_are_rejected(petal_model_file, tmp_path):
    data = petal_model_file.read_bytes()
    (size,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + size])
    header["decoder.0.weight"]["data_offsets"][1] += 10 ** 9
    text = json.dumps(header).encode()
    path = tmp_path / "bad.grc"
    path.write_bytes(struct.pack("<Q", len(text)) + text + data[8 + size:])
    with pytest.raises(GRCError, match="outside the file"):
        grc.load_model(path)


def test_bytes_beyond_or_between_the_tensors_are_damage(petal_model_file, tmp_path):
    # a real-Blender check (a helper) loaded a model with garbage appended: safetensors asks the tensors to fill the
    # data exactly, so a file written twice over or cut and mended is refused, naming it
    data = petal_model_file.read_bytes()
    path = tmp_path / "bad.grc"
    path.write_bytes(data + b"garbage")
    with pytest.raises(GRCError, match=f"^{path}: not a valid GRC model file \\(7 bytes after the last tensor\\)"):
        grc.load_model(path)
    (size,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + size])
    for entry in header.values():  # every tensor moved 16 bytes on: a hole before the first
        if isinstance(entry, dict) and "data_offsets" in entry:
            entry["data_offsets"] = [entry["data_offsets"][0] + 16, entry["data_offsets"][1] + 16]
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"\0" * 16 + data[8 + size:])
    with pytest.raises(GRCError, match="16 bytes outside the tensors"):
        grc.load_model(path)
    assert grc.load_model(petal_model_file).config == grc.load_model(petal_model_file).config  # (the good one loads)


def test_missing_model_and_folder(tmp_path):
    with pytest.raises(GRCError, match="no such file"):
        grc.load_model(tmp_path / "none.grc")
    with pytest.raises(GRCError, match="folder"):
        grc.load_model(tmp_path)


def test_failed_save_leaves_the_old_model(petal_model, petal_model_file, tmp_path, monkeypatch):
    target = tmp_path / "keep.grc"
    petal_model.save(target)
    before = target.read_bytes()

    def crash(*args):
        raise OSError("disk full")
    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(WriteError, match="disk full"):
        GRCModel(petal_model.config, petal_model.templates, petal_model.weights, {"note": "new"}).save(target)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["keep.grc"]  # no temporary file left behind


def test_kill_during_save_leaves_the_old_model(petal_model_file, tmp_path):
    # a process killed while writing leaves the target untouched (the write goes to a temporary file)
    import signal
    import subprocess
    import sys

    target = tmp_path / "model.grc"
    target.write_bytes(petal_model_file.read_bytes())
    before = target.read_bytes()
    code = f"""
import os, time, grc.io as io
from pathlib import Path
with io.atomic_path({str(target)!r}) as tmp:
    with open(tmp, "wb") as f:
        f.write(b"half a model")
        f.flush()
        print("writing", flush=True)
        time.sleep(60)
"""
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert target.read_bytes() == before
    assert grc.load_model(target).names == ["petal-a", "petal-b"]


def test_saved_files_get_ordinary_permissions(petal_model, tmp_path):
    # atomic writes go through a private temporary file; the result must still be readable by others
    path = petal_model.save(tmp_path / "shared.grc")
    assert path.stat().st_mode & 0o777 == 0o666 & ~_umask()
    path.chmod(0o640)
    petal_model.save(path)  # overwriting keeps the file's own permissions
    assert path.stat().st_mode & 0o777 == 0o640


def test_saving_through_a_link_writes_the_file_it_points_to(petal_model, tmp_path):
    real = petal_model.save(tmp_path / "real.grc")
    link = tmp_path / "link.grc"
    link.symlink_to(real)
    model = grc.load_model(real)
    model.info["note"] = "saved through the link"
    model.save(link)
    assert link.is_symlink() and link.resolve() == real.resolve()  # the link stays a link
    assert grc.load_model(real).info.get("note") == "saved through the link"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_model_from_bytes_is_checked_like_a_file(petal_model_file):
    data = petal_model_file.read_bytes()
    model = GRCModel.from_bytes(data, "embedded")
    assert np.array_equal(model.shape(0.8, 0.5), grc.load_model(petal_model_file).shape(0.8, 0.5))
    with pytest.raises(GRCError, match="^embedded: not a valid GRC model file"):
        GRCModel.from_bytes(data[:100], "embedded")


def test_a_write_that_does_not_read_back_leaves_the_old_file(tmp_path, monkeypatch):
    from pathlib import Path

    from grc.io import atomic_write

    target = atomic_write(tmp_path / "look.json", '{"format": "grc-look/1"}\n')
    real = Path.write_bytes
    monkeypatch.setattr(Path, "write_bytes", lambda self, data: real(self, data[:-3]))  # a short write
    with pytest.raises(WriteError, match="read back"):
        atomic_write(target, '{"format": "grc-look/1", "bends": []}\n')
    monkeypatch.undo()
    assert target.read_text() == '{"format": "grc-look/1"}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["look.json"]  # no temporary file left


def test_the_bundled_petal_keeps_opening_past_its_templates_and_stays_whole():
    # issue 11: blends past petal-b go on the way petal-a -> petal-b went (the tip keeps turning), to a
    # diminishing degree, and no shape in blends -1..2 at an inner time crosses itself or folds
    from grc.coherence import Coherence, safe_blend_ranges

    model = grc.load_model(grc.examples.model_path())

    def tip_angle(grid):  # the direction from the base row's middle to the tip row's middle
        d = grid[-1].mean(axis=0) - grid[0].mean(axis=0)
        return np.degrees(np.arctan2(d[2], d[0]))

    for t in (0.55, 0.8, 1.0):
        a, b, beyond, further = (tip_angle(model.shape(t, blend)) for blend in (0, 1, 1.5, 2))
        assert (beyond - b) * (b - a) > 0 and (further - beyond) * (b - a) > 0, t
        assert abs(further - b) > 0.2 * abs(b - a), t
    for t, (low, high) in safe_blend_ranges(model, Coherence.for_model(model, 2)).items():
        assert low <= -1 and high >= 2, (t, low, high)
