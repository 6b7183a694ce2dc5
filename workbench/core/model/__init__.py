"""Models from configs and weights: meta-device architecture, loading, building, memory estimates.

Owns config attribute roles, task registry and model loading;
never imports Qt or the feature packages built on it."""
