"""Layer tars: compression, safe apply with whiteouts, deterministic create and diffs."""
