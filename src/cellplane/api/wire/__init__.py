"""wire layer of cellplane."""
