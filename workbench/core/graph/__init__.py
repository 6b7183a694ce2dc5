"""The folded layer graph, a block's traced dataflow, their layout and SVG export.

Builds on core.model; must not import attention, config or training."""
