"""GRC Studio's desktop app (PyQt5 + pyvistaqt): sketch templates, train, explore context space, export.

The only package that imports Qt. It holds no maths: shapes come from `grc.GRCModel`, meshes from
`grc.mesh.MeshBuilder`, files from `grc.shapes` / `grc.plots`. Start it with `grc studio` or
`python -m gui [FILE] [--screenshot out.png] [--time T] [--blend A] [--benchmark] [--size WxH] [--look FILE]`.
"""
