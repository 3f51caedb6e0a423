"""console layer of cellplane."""
