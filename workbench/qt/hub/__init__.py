"""File > Download from Hub: a dialog over core.hub (preview, download, progress, cancel)."""
