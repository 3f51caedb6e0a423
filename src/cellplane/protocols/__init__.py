"""protocols layer of cellplane."""
