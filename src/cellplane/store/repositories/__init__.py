"""repositories layer of cellplane."""
