"""Config editing: the schema of a config class and validation of edits.

Builds on core.model; must not import graph, attention or training."""
