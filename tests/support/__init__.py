"""Helpers shared by the test suite: a real server process, the admin CLI, free ports."""
