"""services layer of cellplane."""
