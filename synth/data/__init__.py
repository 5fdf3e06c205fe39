"""Data files shipped inside the envhub package (read with `importlib.resources` or the helpers here)."""
