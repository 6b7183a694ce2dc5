"""The header-only views of a checkpoint: overview, tensor table, module tree.

Shares only through qt.common; must not import other feature packages."""
