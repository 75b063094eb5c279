"""Model blending (Pinkney and Adler, 2020; task arithmetic): two models of the same grid and sizes
combined weight by weight, all at once or layer by layer (layer swapping).

    C = A + W (B - A)      for every weight of the chosen layers (A's weights elsewhere)

W = 0 gives A, W = 1 gives B (for the chosen layers), W outside [0, 1] extrapolates. Blending is
meaningful when both descend from one model (`grc train SET --from A.grc`); between independent
trainings the hidden units do not correspond and the blend is mostly noise (docs/diverge.md).
"""

from __future__ import annotations

import hashlib

import numpy as np

from ..errors import GRCError
from ..limits import MAX_BLEND, number
from ..model import GRCModel

NETWORKS = ("template", "encoder", "decoder")


def layer_names(model: GRCModel) -> list[str]:
    """The model's blendable layers: `template.0`, ..., `encoder.0`, ..., `decoder.0`, ..."""
    return sorted({k.rsplit(".", 1)[0] for k in model.weights if k.split(".")[0] in NETWORKS},
                  key=lambda n: (NETWORKS.index(n.split(".")[0]), int(n.split(".")[1])))


def model_id(model: GRCModel) -> str:
    """A short fingerprint of a model's weights (its identity in a lineage)."""
    h = hashlib.sha256()
    for name in sorted(model.weights):
        h.update(name.encode())
        h.update(np.ascontiguousarray(model.weights[name], dtype="<f4").tobytes())
    return h.hexdigest()[:16]


def blend_models(a: GRCModel, b: GRCModel, weight: float, layers=None) -> GRCModel:
    """A + weight (B - A) over `layers` (None: every layer; else names such as "decoder" or "decoder.1").

    The result keeps A's templates and settings; its normalisation is blended with the layers (the same for
    models of one template set); its info records both parents.
    """
    weight = number(weight, "weight", low=-MAX_BLEND, high=MAX_BLEND)
    if a.grid_shape != b.grid_shape:
        raise GRCError(f"expected models of the same grid, got {a.grid_shape} and {b.grid_shape}", field="models")
    shapes_a = {k: v.shape for k, v in a.weights.items()}
    shapes_b = {k: v.shape for k, v in b.weights.items()}
    if shapes_a != shapes_b:
        differ = sorted(k for k in set(shapes_a) | set(shapes_b) if shapes_a.get(k) != shapes_b.get(k))
        raise GRCError(f"expected models of the same sizes; they differ in {differ[:4]}", field="models")
    names = layer_names(a)
    chosen = set(names) if layers is None else set()
    for layer in layers or ():
        match = [n for n in names if n == layer or n.split(".")[0] == layer]
        if not match:
            raise GRCError(f"expected layers among {', '.join(NETWORKS)} or {', '.join(names)}, got {layer!r}",
                           field="layers")
        chosen.update(match)
    # the normalisation (rows' mean and scale, the relational map's centre and scale) differs between models
    # trained on different template sets (`grc train OTHER --from A`): blended with the layers, so that
    # weight 1 gives B; a layer swap between such models would mix two normalisations, so it is refused
    normalisation = [k for k in a.weights if k.split(".")[0] not in NETWORKS]
    differs = [k for k in normalisation if not np.array_equal(a.weights[k], b.weights[k])]
    if differs and layers is not None:
        raise GRCError("these models were trained on different template sets (their normalisation differs): "
                       "blend all layers at once (leave out --layers)", field="layers")
    weights = {}
    for key, value in a.weights.items():
        if key.rsplit(".", 1)[0] in chosen or key in differs:
            weights[key] = value + weight * (b.weights[key] - value)
        else:
            weights[key] = value.copy()
    info = {k: v for k, v in a.info.items() if k != "lineage"}
    info["lineage"] = lineage("blend-models", [a, b], weight=weight,
                              layers="all" if layers is None else sorted(chosen))
    return GRCModel(a.config, a.templates, weights, info)


MAX_ANCESTRY = 256  # ancestors a lineage keeps (flat: the JSON stays shallow however long the line)


def lineage_of(record) -> dict:
    """A lineage record (a model's info["lineage"], a kept template's "model_lineage") as its readers expect
    it: a dict whose "parents" and "ancestry" are lists of dicts, whatever the file held (it is metadata:
    shown and copied, never trusted to be well formed)."""
    if not isinstance(record, dict):
        return {}
    out = dict(record)
    for key in ("parents", "ancestry"):
        value = record.get(key)
        out[key] = [e for e in value if isinstance(e, dict)] if isinstance(value, list) else []
    if not isinstance(out.get("operation", ""), str):
        out["operation"] = "?"
    return out


def lineage(operation: str, parents: list[GRCModel], **details) -> dict:
    """A lineage record for a model made from `parents`: what was done, the parents' fingerprints,
    and every earlier ancestor as a flat list of {model, operation, parents} (so it survives copying
    the file and never nests deeper than a few levels)."""
    ancestry, seen = [], set()
    records = [lineage_of(p.info.get("lineage")) for p in parents]
    for p, record in zip(parents, records):
        entries = [{"model": model_id(p), "operation": record.get("operation", "train"),
                    "parents": [q.get("model") for q in record.get("parents", [])]}]
        entries += record.get("ancestry", [])
        for e in entries:
            if e.get("model") not in seen and len(ancestry) < MAX_ANCESTRY:
                seen.add(e.get("model"))
                ancestry.append(e)
    return {"operation": operation, **details,
            "parents": [{"model": model_id(p), "operation": record.get("operation", "train")}
                        for p, record in zip(parents, records)],
            "ancestry": ancestry}
