"""Going beyond the templates by hand and by search: bends and looks, model blending, rewriting."""
