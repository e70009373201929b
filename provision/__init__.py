"""provision: one command to a working, verified Kubernetes lab."""

__version__ = "0.1.0"
