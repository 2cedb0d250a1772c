"""Data, splits, histories, rating baselines, and (later) teachers and training stages."""
