"""Serve a causal LM locally with transformers' own OpenAI-compatible `transformers serve`."""
