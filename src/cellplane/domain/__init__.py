"""domain layer of cellplane."""
