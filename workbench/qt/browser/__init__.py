"""Finding checkpoints: the browser dock (files, HF cache, recent) and the start page.

Shares only through qt.common; must not import other feature packages."""
