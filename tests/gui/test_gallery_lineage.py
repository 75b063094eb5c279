"""The Lineage tab lists what a model came from and opens its parents' files."""

from grc import GRCModel, load_model
from grc.diverge.blend import blend_models, model_id
from gui.app import TABS


def test_lineage_lists_the_parents_of_a_blended_model_and_opens_them(make_window, files, qtbot):
    path_a, _ = files
    a = load_model(path_a)
    b = GRCModel(a.config, a.templates, {k: v * 1.01 for k, v in a.weights.items()}, dict(a.info))
    path_b = path_a.with_name("other.grc")
    b.save(path_b)
    blended = blend_models(a, b, 0.5)
    path_c = path_a.with_name("blend.grc")
    blended.save(path_c)

    window = make_window(path_c)
    window.tabs.setCurrentIndex(TABS.index("lineage"))
    panel = window.lineage
    texts = [item.text(0) for item in panel.items()]
    assert texts[0].startswith(f"This model {model_id(blended)} (blend.grc) · blend-models")
    assert any(model_id(a) in t and "petal.grc" in t for t in texts)
    assert any(model_id(b) in t and "other.grc" in t for t in texts)
    parent = next(i for i in panel.items() if model_id(b) in i.text(0))
    panel.open_item(parent)  # as a double click does
    assert window.doc.model_path == path_b and model_id(window.doc.model) == model_id(b)
    texts = [item.text(0) for item in panel.items()]
    assert texts[0].startswith(f"This model {model_id(b)} (other.grc) · train")
