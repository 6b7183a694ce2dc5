"""`python -m workbench` runs the command line entry point."""

from workbench.cli import main

raise SystemExit(main())
