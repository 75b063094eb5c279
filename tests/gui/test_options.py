"""The documented start options: `grc studio --size WxH` and `python -m gui --look FILE` (docs/gui.md). Both were
refused ("No such option", an argparse error) though the docs showed them."""

import os
import subprocess
import sys

import numpy as np
import pytest
from PyQt5.QtGui import QImage

from grc.cli import main as grc_main
from grc_testing import ROOT
from gui.__main__ import parse


def pixels(path) -> np.ndarray:
    image = QImage(str(path)).convertToFormat(QImage.Format_RGB888)
    data = image.constBits().asstring(image.sizeInBytes())
    return np.frombuffer(data, np.uint8).reshape(image.height(), image.bytesPerLine())[:, : 3 * image.width()]


def app(*args):
    """The app as a user starts it (its own process: a window left for the garbage collector after --screenshot
    must not meet pytest's), on pytest-xvfb's display."""
    result = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=240, cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr[-2000:]


def test_grc_studio_size_and_python_m_gui_look(qapp, tmp_path):
    plain, sized, bent = tmp_path / "plain.png", tmp_path / "sized.png", tmp_path / "bent.png"
    model = str(ROOT / "meshes" / "petal.grc")
    app("-c", "import sys; from grc.cli import main; sys.exit(main())", "studio", model, "--screenshot", str(sized),
        "--size", "1024x700")
    image = QImage(str(sized))
    assert (image.width(), image.height()) == (1024, 700)
    look = str(ROOT / "benchmarks" / "looks" / "three-bends.json")
    options = parse([model, "--screenshot", str(bent), "--size", "800x600", "--look", look])
    assert options["size"] == (800, 600) and options["look"] == look
    app("-m", "gui", model, "--screenshot", str(bent), "--size", "800x600", "--look", look)
    app("-m", "gui", model, "--screenshot", str(plain), "--size", "800x600")
    assert QImage(str(bent)).size() == QImage(str(plain)).size()
    assert np.abs(pixels(bent).astype(int) - pixels(plain).astype(int)).max() > 50  # the bends show


@pytest.mark.parametrize("size", ["1280", "12x", "axb", "100x100", "1280x800x2", "99999x800"])
def test_a_bad_size_is_one_line_naming_it(size, capsys):
    assert grc_main(["studio", "--size", size]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "--size" in err and "Traceback" not in err
    with pytest.raises(SystemExit):
        parse(["--size", size])
    assert "--size" in capsys.readouterr().err
