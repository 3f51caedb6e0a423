"""store layer of cellplane."""
