"""Qt pieces every feature shares: workers, dialogs, forms, the heatmap, the GC guard.

Must not import any feature package (inspect, config, graph, attention, train, browser)."""
