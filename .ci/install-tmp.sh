#!/usr/bin/env bash
# CI on a fresh machine: install what the project needs (system packages for the virtual display and
# for Blender-as-a-module, the Python packages, Blender's bpy in its own venv), then run the README's
# test command.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# Xvfb + Qt's xcb platform (the app's 3D view needs a real X display) and the X libraries bpy loads.
$SUDO apt-get install -y -qq --no-install-recommends \
    xvfb xauth libxkbcommon-x11-0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0 \
    libxcb-render-util0 libxcb-xinerama0 libxcb-xfixes0 libxcb-shape0 libxcb-cursor0 libegl1 libgl1 \
    libdbus-1-3 libfontconfig1 libx11-6 libxrender1 libxfixes3 libxi6 libxkbcommon0 libxcb1 libsm6 libice6 \
    libxext6 libxxf86vm1 > /dev/null

# README command 1, minus launching the app: the project and its test extras.
python3 -m pip install -q "torch==2.13.0" -e ".[test]"

# Blender as a Python module (bpy pins numpy < 2, so it gets a venv of its own; the tests drive it
# through a subprocess). Reused when a cached venv is already there.
if ! .venv-blender/bin/python -c "import bpy" 2> /dev/null; then
    python3.11 -m venv .venv-blender
    .venv-blender/bin/pip install -q "bpy==5.0.1"
fi

# README command 2.
