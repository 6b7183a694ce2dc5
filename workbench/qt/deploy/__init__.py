"""Evaluate, export, diff and serve dialogs: the deploy end of a model's life, on core functions."""
