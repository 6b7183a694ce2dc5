"""Attention weights of a real model: capture, aggregate (mean/max/rollout/entropy), export.

Builds on core.model; must not import graph, config or training."""
