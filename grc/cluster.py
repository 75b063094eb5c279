"""Training many template sets, on this machine or on a Ray cluster (Ray Core tasks, not Ray Tune:
Tune was measured at 27-150 s of overhead for 4 s trials here).

    results = train_many("studio/sets", "studio/models")                 # locally, one after another
    results = train_many("studio/sets", "studio/models", ray="auto")     # on a running Ray cluster

Each set (a sub-folder holding template .json files) is trained with the same settings and saved as
`<output>/<set>.grc`. A set that fails (a malformed template) is reported and the others go on.
Ray is an optional extra (`pip install ".[cluster]"`); without it the local engine runs.
"""

from __future__ import annotations

import time as clock
from dataclasses import dataclass
from pathlib import Path

from .config import Config
from .errors import GRCError


@dataclass
class Result:
    """One set's training: where the model went, or why it failed."""

    name: str
    output: Path | None
    seconds: float
    error: str | None = None
    metrics: dict | None = None


def template_sets(folder) -> list[Path]:
    """The template set folders in `folder` (sub-folders holding .json files), by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise GRCError("expected a folder of template set folders", path=folder)
    sets = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".") and any(p.glob("*.json")))
    if not sets:
        raise GRCError("no template set folders here (sub-folders of template .json files)", path=folder)
    return sets


def train_one(set_folder: str, output: str, config: dict, device: str = "cpu") -> dict:
    """Train one set and save its model; returns a plain dict (it crosses process boundaries)."""
    from .metrics import evaluate
    from .templates import load_template_set
    from .training import train

    start = clock.perf_counter()
    name = Path(set_folder).name
    try:
        from .model import check_model_size

        templates, config = load_template_set(set_folder), Config.from_json(config)
        check_model_size(config, templates)  # a model too big to save is refused before its training, as grc train does
        model = train(templates, config, device=device)
        model.save(output)
        metrics = evaluate(model)
        return {"name": name, "output": output, "seconds": clock.perf_counter() - start, "error": None,
                "metrics": {k: metrics[k] for k in ("reconstruction_rmse", "interpolation_error")}}
    except GRCError as e:
        return {"name": name, "output": None, "seconds": clock.perf_counter() - start, "error": str(e), "metrics": None}


def train_many(folder, output, config: Config | None = None, *, ray: str | None = None, device: str = "cpu",
               callback=None) -> list[Result]:
    """Train every template set in `folder` into `output`/<set>.grc: locally, or on Ray when `ray` is an
    address ("auto" for a running cluster, "local" to start one on this machine).
    `callback(result)` is called as each set finishes."""
    config = config or Config()
    sets = template_sets(folder)
    output = Path(output)
    if output.exists() and not output.is_dir():
        raise GRCError("expected a folder for the models", path=output)
    output.mkdir(parents=True, exist_ok=True)
    jobs = [(str(s), str(output / f"{s.name}.grc"), config.to_json(), device) for s in sets]
    return _run(jobs, ray, callback)


def _result(data: dict) -> Result:
    return Result(data["name"], None if data["output"] is None else Path(data["output"]), data["seconds"],
                  data["error"], data["metrics"])


def _run(jobs, ray_address, callback) -> list[Result]:
    results = []
    if ray_address is None:
        for job in jobs:
            results.append(_result(train_one(*job)))
            if callback:
                callback(results[-1])
        return results
    ray = connect(ray_address)
    remote = ray.remote(num_cpus=1)(train_one)
    pending = {remote.remote(*job): job for job in jobs}
    while pending:
        done, _ = ray.wait(list(pending), num_returns=1)
        for ref in done:
            pending.pop(ref)
            results.append(_result(ray.get(ref)))
            if callback:
                callback(results[-1])
    order = {Path(job[0]).name: i for i, job in enumerate(jobs)}
    return sorted(results, key=lambda r: order[r.name])


def _train_bytes(templates_json: list, config: dict, population, device: str) -> bytes:
    """A whole training on a worker: the template set and settings in, the model file's bytes out."""
    import tempfile

    from .templates import TemplateSet

    try:
        templates = TemplateSet.from_json(templates_json)
        config = Config.from_json(config)
        if population is None:
            from .training import train

            model = train(templates, config, device=device)
        else:
            from .population import train_population

            model, _ = train_population(templates, config, tuple(population), device=device)
    except GRCError as e:  # a user's mistake (no GPU there, a bad setting): its one line, not Ray's traceback
        return str(e)
    with tempfile.TemporaryDirectory() as folder:
        return model.save(Path(folder) / "model.grc").read_bytes()


def train_remote(templates, config: Config, *, population=None, ray: str = "auto", device: str = "cpu"):
    """One training (or population) as a task on a Ray cluster; returns the trained GRCModel."""
    from .model import GRCModel

    module = connect(ray)
    task = module.remote(num_cpus=1)(_train_bytes)
    data = module.get(task.remote(templates.to_json(), config.to_json(), population, device))
    if isinstance(data, str):
        raise GRCError(f"on the Ray worker: {data}", field="--ray")
    return GRCModel.from_bytes(data, "the Ray worker's model")


def connect(address: str, num_cpus: int | None = None):
    """The `ray` module, connected to `address` ("auto": a running cluster; "local": a new one here)."""
    try:
        import ray
    except ImportError:
        raise GRCError('Ray is not installed; install the cluster extra (pip install "grc-studio[cluster]") '
                       "or leave out --ray to train on this machine", field="--ray") from None
    if not ray.is_initialized():
        if address not in ("local", "auto"):
            reachable(address)  # Ray itself retries an unreachable address for minutes
        try:
            if address == "local":
                ray.init(num_cpus=num_cpus, include_dashboard=False, logging_level="ERROR",
                         log_to_driver=False, runtime_env=_runtime_env())
            else:
                ray.init(address=address, logging_level="ERROR", log_to_driver=False, runtime_env=_runtime_env())
        except (ConnectionError, RuntimeError, ValueError) as e:
            raise GRCError(f"cannot connect to the Ray cluster at {address!r} ({e})", field="--ray") from None
    return ray


def reachable(address: str, seconds: float = 5.0) -> None:
    """Raise GRCError unless something answers at a Ray address (host:port or ray://host:port)."""
    import socket

    target = address.split("://", 1)[-1]
    host, sep, port = target.rpartition(":")
    if not sep or not host or not (port.isascii() and port.isdigit()):
        raise GRCError(f"expected 'auto', 'local' or HOST:PORT, got {address!r}", field="--ray")
    try:
        with socket.create_connection((host, int(port)), timeout=seconds):
            pass
    except OSError as e:
        raise GRCError(f"cannot reach the Ray cluster at {address!r} ({e.strerror or e})", field="--ray") from None


def _runtime_env() -> dict:
    """Workers import this very grc (a checkout need not be installed on them)."""
    return {"env_vars": {"PYTHONPATH": str(Path(__file__).resolve().parents[1])}}
