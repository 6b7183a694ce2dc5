"""The config editor, New Model dialog and build report.

Shares only through qt.common; must not import other feature packages."""
