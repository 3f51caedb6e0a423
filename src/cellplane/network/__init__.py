"""network layer of cellplane."""
