"""Shared fixtures: the bundled template sets and small models trained for real (a few seconds)."""

import pytest

import grc
from grc_testing import LEAF, PETAL, small_config


@pytest.fixture(scope="session")
def petal():
    return grc.load_templates(PETAL)


@pytest.fixture(scope="session")
def petal_model(petal):
    return grc.train(petal, small_config(), device="cpu")


@pytest.fixture(scope="session")
def leaf_model():
    # without the shapes beyond its templates (SMALL): a short training that breaks in places, which the tests of how
    # broken shapes are found and shown need (the default keeps the leaf whole)
    return grc.train(grc.load_templates(LEAF), small_config(), device="cpu")


@pytest.fixture(scope="session")
def petal_model_file(petal_model, tmp_path_factory):
    return petal_model.save(tmp_path_factory.mktemp("models") / "petal.grc")
