"""wireless_v1 layer of cellplane."""
