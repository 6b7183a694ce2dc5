"""The Graph view: the folded layer graph, a block's dataflow, the parameter panel.

Shares only through qt.common; must not import other feature packages."""
