"""Training many template sets: locally, and on a real local Ray instance (2 CPUs)."""

import shutil

import numpy as np
import pytest
import torch

import grc
from grc.cluster import template_sets, train_many
from grc_testing import PETAL, SPROUT

TINY = grc.Config(template_steps=100, template_lbfgs_steps=50, steps=200, refine_steps=50)


@pytest.fixture(scope="module")
def sets(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sets")
    shutil.copytree(PETAL, folder / "petal")
    shutil.copytree(SPROUT, folder / "sprout")
    (folder / "notes").mkdir()  # a folder without templates is not a set
    return folder


@pytest.fixture(scope="module")
def local(sets, tmp_path_factory):
    return train_many(sets, tmp_path_factory.mktemp("local"), TINY)


def test_every_set_in_a_folder_is_trained_and_saved(sets, local):
    assert [s.name for s in template_sets(sets)] == ["petal", "sprout"]
    assert [r.name for r in local] == ["petal", "sprout"] and all(r.error is None for r in local)
    for r in local:
        model = grc.load_model(r.output)
        assert model.templates.names == grc.load_templates(sets / r.name).names


def test_a_broken_set_is_reported_and_the_others_go_on(sets, tmp_path):
    shutil.copytree(sets / "sprout", tmp_path / "sets" / "a-sprout")
    (tmp_path / "sets" / "b-broken").mkdir()
    (tmp_path / "sets" / "b-broken" / "0-x.json").write_text("{not json")
    results = train_many(tmp_path / "sets", tmp_path / "out", TINY)
    assert results[0].error is None and results[0].output.exists()
    assert "0-x.json" in results[1].error and results[1].output is None


def test_a_folder_without_sets_is_one_clear_error(tmp_path):
    with pytest.raises(grc.GRCError, match="no template set folders"):
        train_many(tmp_path, tmp_path / "out", TINY)


def test_ray_trains_the_same_models_as_the_local_engine(sets, local, tmp_path):
    ray = pytest.importorskip("ray", reason='Ray is the optional cluster extra: pip install ".[cluster]"')
    from grc.cluster import connect

    connect("local", num_cpus=2)
    try:
        remote = train_many(sets, tmp_path, TINY, ray="auto")
    finally:
        ray.shutdown()
    assert [r.name for r in remote] == ["petal", "sprout"] and all(r.error is None for r in remote)
    for a, b in zip(local, remote):
        # as good as the local engine's (the same seed gives the same model, up to the machine's arithmetic)
        assert b.metrics["reconstruction_rmse"] <= a.metrics["reconstruction_rmse"] * 1.05 + 1e-4
        ma, mb = grc.load_model(a.output), grc.load_model(b.output)
        assert np.allclose(ma.shape(0.5, 0.5), mb.shape(0.5, 0.5), atol=1e-4)


def test_a_population_trained_on_ray_is_as_good_as_the_local_engine(tmp_path):
    ray = pytest.importorskip("ray", reason='Ray is the optional cluster extra: pip install ".[cluster]"')
    from grc.cluster import connect, train_remote
    from grc.metrics import evaluate
    from grc.population import train_population

    templates = grc.load_templates(PETAL)
    local, report = train_population(templates, TINY, (2, 2))
    connect("local", num_cpus=2)
    try:
        remote = train_remote(templates, TINY, population=(2, 2), ray="auto")
        if not torch.cuda.is_available():  # a mistake on the worker comes back as its one line, not a traceback
            with pytest.raises(grc.GRCError, match="on the Ray worker: device: CUDA"):
                train_remote(templates, TINY, ray="auto", device="cuda")
    finally:
        ray.shutdown()
    assert remote.info["population"]["grid"] == [2, 2] and len(remote.info["population"]["cells"]) == 4
    a, b = evaluate(local, safe_range=False), evaluate(remote, safe_range=False)
    assert b["reconstruction_rmse"] <= a["reconstruction_rmse"] * 1.05 + 1e-4
    assert b["interpolation_error"] <= a["interpolation_error"] * 1.05 + 1e-3


def test_train_population_and_ray_from_the_command_line(tmp_path, capsys):
    from grc.cli import main

    out = tmp_path / "pop.grc"
    settings = ["--set", "template_steps=100", "--set", "template_lbfgs_steps=50", "--steps", "200",
                "--set", "refine_steps=50", "-q"]
    assert main(["train", str(PETAL), "-o", str(out), "--population", "2x2", *settings]) == 0
    assert grc.load_model(out).info["population"]["grid"] == [2, 2]
    for bad in ("3", "0x2", "9x9", "1x1", "axb"):
        assert main(["train", str(PETAL), "-o", str(out), "--population", bad, *settings]) == 2
        assert "--population" in capsys.readouterr().err
    assert main(["train", str(PETAL), "-o", str(tmp_path / "x.grc"), "--ray", "nowhere:1", *settings]) == 2


def test_a_model_too_big_to_save_is_refused_before_its_training(sets, tmp_path, monkeypatch):
    # as `grc train` does: train-many used to train every set in full (hours at this size) and fail at the save
    import grc.training

    def no_training(*args, **kwargs):
        raise AssertionError("a training started for a model that cannot be saved")

    monkeypatch.setattr(grc.training, "train", no_training)
    huge = TINY.replace(decoder_hidden=(4096,) * 8)
    results = train_many(sets, tmp_path / "out", huge)
    assert all(r.output is None and "limit for a model file" in r.error for r in results)
