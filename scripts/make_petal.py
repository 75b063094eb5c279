"""Convert the article's petal grids (../shared/data/article-petal) into templates/petal.

python scripts/make_petal.py [SOURCE_FOLDER]
"""
import shutil
import sys
from pathlib import Path

from grc.importers import import_files
from grc.templates import TemplateSet

MAP = [0, 0.1, 0.3, 0.55, 0.8, 1.0, 1.1]
ROOT = Path(__file__).resolve().parents[1]
source = Path(sys.argv[1] if len(sys.argv) > 1 else ROOT.parent / "shared/data/article-petal")
out = ROOT / "templates/petal"
attribution = ("Petal templates from the GRC article's code, github.com/gylks/Relational-Context "
               "(Apache License 2.0); coordinates scaled by 0.12 as in the article.")
templates = []
for k, name in enumerate(["petal-a", "petal-b"]):
    t = import_files(name, [source / f"PetalS{k}T{i}.json" for i in range(7)], time=MAP, morph=MAP, scale=0.12)
    t.attribution = attribution
    templates.append(t)
TemplateSet(templates).save(out)
shutil.copy(source / "LICENSE", out / "LICENSE")
print(f"wrote {len(templates)} templates to {out}")
