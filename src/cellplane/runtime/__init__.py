"""Wires the pieces into one process; with the CLI, the only place that reads settings.

`settings` is light (the admin CLI imports only it); `platform` builds and runs every component.
"""
