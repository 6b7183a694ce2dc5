"""The Attention view: heatmaps, grid, token view, rollout, compare.

Shares only through qt.common; must not import other feature packages."""
