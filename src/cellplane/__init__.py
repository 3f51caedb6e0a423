"""cellplane: a self-hosted connectivity management platform for cellular IoT SIM fleets."""

__version__ = "0.1.0"
