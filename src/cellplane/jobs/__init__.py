"""jobs layer of cellplane."""
