"""One module per `workbench` subcommand (see workbench.cli)."""
