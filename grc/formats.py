"""Write meshes as OBJ / PLY / STL / GLB, and a sweep of shapes as one GLB whose morph targets become
Blender shape keys.

Our coordinates are Z-up as in Blender. Each format is written in its own convention so that Blender's
default importers put every vertex back where it is here: OBJ and glTF are Y-up, written as (x, z, -y);
PLY and STL keep (x, y, z). OBJ and PLY keep the quads; STL and GLB hold triangles. A mesh's UVs (one per
vertex) are written as OBJ `vt`, PLY `s, t` and glTF TEXCOORD_0 (v stored as 1 - v, glTF's origin being
top left); STL has none. Every file is written atomically: a failed write leaves an existing file as it was.
"""

from pathlib import Path

import numpy as np
import pygltflib as gl
import trimesh

from .errors import GRCError
from .io import atomic_path
from .limits import FLOAT32_MAX, MAX_FPS, MIN_FPS, number
from .mesh import Mesh, triangulate

FORMATS = ("obj", "ply", "stl", "glb")


def to_y_up(v) -> np.ndarray:
    """Z-up (x, y, z) to Y-up (x, z, -y): a rotation, so windings and normals stay right."""
    v = np.asarray(v)
    return np.stack([v[..., 0], v[..., 2], -v[..., 1]], axis=-1)


def write_mesh(path, mesh: Mesh, format: str | None = None) -> Path:
    """Write `mesh` to `path` as one of FORMATS (taken from the suffix when format is None)."""
    path = Path(path)
    format = (format or path.suffix.lstrip(".")).lower()
    if format not in FORMATS:
        raise GRCError(f"unknown format {format!r}, expected one of {', '.join(FORMATS)}", path=path, field="format")
    _check_finite(mesh.vertices, path, "vertices")
    with atomic_path(path) as tmp:
        _WRITERS[format](tmp, mesh, path.stem)
    return path


def write_morph_glb(path, frames, faces, names, *, fps: float = 24, uvs=None) -> Path:
    """Write a GLB of frames (F, V, 3) sharing `faces`: base mesh frames[0], morph target i = frames[i] - frames[0]
    named names[i] (Blender shape keys), and an animation "sweep" that shows frame i at time i / fps.
    `uvs` (V, 2), when given, become TEXCOORD_0.
    """
    path = Path(path)
    frames, faces = np.asarray(frames, dtype=np.float64), np.asarray(faces)
    if frames.ndim != 3 or frames.shape[0] < 1 or frames.shape[2] != 3:
        raise GRCError(f"expected frames of shape (frames, vertices, 3), got {frames.shape}", path=path, field="frames")
    _check_finite(frames, path, "frames")
    vertices = frames.shape[1]
    if faces.ndim != 2 or faces.shape[1] not in (3, 4) or not faces.size or not 0 <= faces.min() <= faces.max() < vertices:
        raise GRCError(f"expected faces (F, 3 or 4) indexing {vertices} vertices", path=path, field="faces")
    names = [str(name) for name in names]
    if len(names) != len(frames) or len(set(names)) != len(names):
        raise GRCError(f"expected {len(frames)} different names, one per frame, got {names}", path=path, field="names")
    fps = number(fps, "fps", low=MIN_FPS, high=MAX_FPS, path=path)
    _check_finite(frames - frames[0], path, "frames")  # the morph targets are stored as float32 too
    triangles = faces if faces.shape[1] == 3 else triangulate(faces)
    if uvs is not None and np.shape(uvs) != (vertices, 2):
        raise GRCError(f"expected UVs of shape ({vertices}, 2), got {np.shape(uvs)}", path=path, field="uvs")
    gltf = _gltf(path.stem, to_y_up(frames[0]), triangles, targets=to_y_up(frames - frames[0]), names=names, fps=fps,
                 uvs=uvs)
    with atomic_path(path) as tmp:
        gltf.save_binary(str(tmp))
    return path


def _check_finite(array, path, field):
    """Every coordinate finite and within float32 (files store float32: 1e39 would become infinity)."""
    array = np.asarray(array)
    if not np.isfinite(array).all():
        raise GRCError("contains NaN or infinite coordinates", path=path, field=field)
    if array.size and np.abs(array).max() > FLOAT32_MAX:
        raise GRCError(f"coordinates up to {np.abs(array).max():.3g}, beyond what a file stores "
                       f"(float32, {FLOAT32_MAX:.3g})", path=path, field=field)


def _write_obj(tmp, mesh, name):
    """Text OBJ, Y-up, one quad per `f` line (1-based indices); with UVs, one `vt` per vertex (same index)."""
    v, f = to_y_up(mesh.vertices), mesh.faces + 1
    text = f"# GRC Studio: Y-up, (x, z, -y) of Blender's Z-up coordinates\no {name}\n"
    text += ("v %.9g %.9g %.9g\n" * len(v)) % tuple(v.ravel())
    if mesh.uvs is not None:
        text += ("vt %.9g %.9g\n" * len(mesh.uvs)) % tuple(np.asarray(mesh.uvs, float).ravel())
        text += ("f %d/%d %d/%d %d/%d %d/%d\n" * len(f)) % tuple(np.repeat(f.ravel(), 2))
    else:
        text += ("f %d %d %d %d\n" * len(f)) % tuple(f.ravel())
    Path(tmp).write_text(text)


def _write_ply(tmp, mesh, name):
    """Binary little-endian PLY, Z-up as is, float32 vertices (with UVs as s, t) and quad faces."""
    uv = mesh.uvs is not None
    header = (
        "ply\nformat binary_little_endian 1.0\ncomment GRC Studio: Z-up as in Blender\n"
        f"element vertex {len(mesh.vertices)}\nproperty float x\nproperty float y\nproperty float z\n"
        + ("property float s\nproperty float t\n" if uv else "")
        + f"element face {len(mesh.faces)}\nproperty list uchar int vertex_indices\nend_header\n"
    )
    vertices = np.concatenate([mesh.vertices, mesh.uvs], axis=1) if uv else mesh.vertices
    faces = np.empty(len(mesh.faces), dtype=[("count", "u1"), ("indices", "<i4", (4,))])
    faces["count"], faces["indices"] = 4, mesh.faces
    Path(tmp).write_bytes(header.encode() + vertices.astype("<f4").tobytes() + faces.tobytes())


def _write_stl(tmp, mesh, name):
    """Binary STL of the triangles, Z-up as is."""
    trimesh.Trimesh(mesh.vertices, mesh.triangles, process=False).export(str(tmp), file_type="stl")


def _write_glb(tmp, mesh, name):
    """GLB (Y-up) of the triangles, with smooth vertex normals."""
    normals = mesh.vertex_normals
    _check_finite(normals, name, "normals")
    _gltf(name, to_y_up(mesh.vertices), mesh.triangles, normals=to_y_up(normals), uvs=mesh.uvs).save_binary(str(tmp))


# writer(tmp, mesh, name): name (the file's stem) names the object where the format has one
_WRITERS = {"obj": _write_obj, "ply": _write_ply, "stl": _write_stl, "glb": _write_glb}


def _gltf(name, positions, triangles, normals=None, targets=(), names=(), fps=24.0, uvs=None) -> gl.GLTF2:
    """One node, one mesh, one triangle primitive; morph targets (deltas, target 0 may be all zeros)
    named `names` with an animation playing them one after another; `uvs` (V, 2) as TEXCOORD_0."""
    blob, views, accessors = bytearray(), [], []

    def add(array, dtype, kind, target=None, bounds=False):
        """Append `array` to the buffer as a view and an accessor; returns the accessor's index."""
        data = np.ascontiguousarray(array, dtype=dtype)
        views.append(gl.BufferView(buffer=0, byteOffset=len(blob), byteLength=data.nbytes, target=target))
        blob.extend(data.tobytes())  # float32 / uint32 only, so every view stays 4-byte aligned
        component = gl.FLOAT if dtype == np.float32 else gl.UNSIGNED_INT
        flat = data.reshape(len(data), -1)
        accessors.append(gl.Accessor(
            bufferView=len(views) - 1, componentType=component, count=len(data), type=kind,
            min=flat.min(axis=0).tolist() if bounds else None, max=flat.max(axis=0).tolist() if bounds else None,
        ))
        return len(accessors) - 1

    attributes = gl.Attributes(POSITION=add(positions, np.float32, gl.VEC3, gl.ARRAY_BUFFER, bounds=True))
    if normals is not None:
        attributes.NORMAL = add(normals, np.float32, gl.VEC3, gl.ARRAY_BUFFER)
    if uvs is not None:
        uvs = np.asarray(uvs, float)
        attributes.TEXCOORD_0 = add(np.stack([uvs[:, 0], 1 - uvs[:, 1]], axis=1), np.float32, gl.VEC2, gl.ARRAY_BUFFER)
    indices = add(triangles.ravel(), np.uint32, gl.SCALAR, gl.ELEMENT_ARRAY_BUFFER)
    morphs = [gl.Attributes(POSITION=add(d, np.float32, gl.VEC3, gl.ARRAY_BUFFER, bounds=True)) for d in targets]
    mesh = gl.Mesh(name=name, primitives=[gl.Primitive(attributes=attributes, indices=indices, targets=morphs)])
    animations = []
    if morphs:
        mesh.weights = [0.0] * len(morphs)  # Blender's slider range is [min(0, w), max(1, w)]: 0..1
        mesh.extras = {"targetNames": names}
        times = add(np.arange(len(morphs)) / fps, np.float32, gl.SCALAR, bounds=True)
        weights = add(np.eye(len(morphs)).ravel(), np.float32, gl.SCALAR)  # key i: weight 1 on target i
        animations = [gl.Animation(
            name="sweep",
            samplers=[gl.AnimationSampler(input=times, output=weights, interpolation=gl.ANIM_LINEAR)],
            channels=[gl.AnimationChannel(sampler=0, target=gl.AnimationChannelTarget(node=0, path="weights"))],
        )]
    gltf = gl.GLTF2(
        asset=gl.Asset(generator="GRC Studio"), scene=0, scenes=[gl.Scene(nodes=[0])],
        nodes=[gl.Node(name=name, mesh=0)], meshes=[mesh], animations=animations,
        buffers=[gl.Buffer(byteLength=len(blob))], bufferViews=views, accessors=accessors,
    )
    gltf.set_binary_blob(bytes(blob))
    return gltf
