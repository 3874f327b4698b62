"""The bureau's console at /console (hub.console.app), its pages (pages.py), the
access matrix (matrix.py) and the last hour of metrics (history.py)."""
