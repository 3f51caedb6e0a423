"""cli layer of cellplane."""
