"""api layer of cellplane."""
