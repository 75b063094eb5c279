"""Render every template of a set at every time step into one PNG: python scripts/look_templates.py FOLDER OUT.png"""
import sys, numpy as np, pyvista as pv, grc
from grc.mesh import MeshBuilder
s = grc.load_templates(sys.argv[1]); K,T,M,N,_ = s.points.shape
p = pv.Plotter(off_screen=True, shape=(K, T), window_size=(220*T, 220*K))
b = MeshBuilder(M, N, 2)
for k in range(K):
    for i in range(T):
        p.subplot(k, i); m = b.build(s.points[k, i])
        faces = np.hstack([np.full((len(m.faces),1),4), m.faces]).ravel()
        p.add_mesh(pv.PolyData(m.vertices, faces), color="lightpink", smooth_shading=True)
        p.add_points(s.points[k,i].reshape(-1,3), color="k", point_size=4)
        p.add_text(f"{s.names[k]} t={s.time[i]}", font_size=8); p.view_isometric(); p.reset_camera()
p.screenshot(sys.argv[2])
