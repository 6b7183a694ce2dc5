"""Files the installed program reads (demo data), installed as `workbench.resources`."""
