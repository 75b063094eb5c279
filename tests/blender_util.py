"""Run a Python script inside real Blender (bpy as a module, in its own virtual environment) from tests.

The Blender python is $GRC_BLENDER_PYTHON, else <repo>/.venv-blender/bin/python
(`python3.11 -m venv .venv-blender && .venv-blender/bin/pip install bpy==5.0.1`).
A script starts from an empty factory scene, reads its arguments from ARGS and reports with emit(dict).
"""

import json
import os
import subprocess
from pathlib import Path

import pytest

MARK = "GRC-JSON:"

PRELUDE = f"""
import json, sys
import bpy
bpy.ops.wm.read_factory_settings(use_empty=True)
ARGS = json.loads(sys.argv[-1])

def emit(result):
    print({MARK!r} + json.dumps(result), flush=True)
"""


def blender_python() -> Path | None:
    """The python that can `import bpy`, or None when there is none."""
    default = Path(__file__).resolve().parents[1] / ".venv-blender/bin/python"
    path = Path(os.environ.get("GRC_BLENDER_PYTHON") or default)
    return path if path.is_file() else None


requires_blender = pytest.mark.skipif(
    blender_python() is None,
    reason="no Blender python: set GRC_BLENDER_PYTHON or run "
    "`python3.11 -m venv .venv-blender && .venv-blender/bin/pip install bpy==5.0.1`",
)


def run_blender(script: str, args: dict | None = None, timeout: float = 600) -> dict:
    """Run `script` in a Blender python subprocess with ARGS = args; return the dict it emit()ted."""
    result = subprocess.run(
        [str(blender_python()), "-c", PRELUDE + script, json.dumps(args or {})],
        capture_output=True, text=True, timeout=timeout,
    )
    lines = [line[len(MARK):] for line in result.stdout.splitlines() if line.startswith(MARK)]
    if result.returncode != 0 or not lines:
        output = f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        raise RuntimeError(f"Blender script failed (exit {result.returncode}):\n{output}")
    return json.loads(lines[-1])
