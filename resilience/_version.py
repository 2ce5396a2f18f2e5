"""The version, in a module of its own: every layer may import it without importing the package root."""

__version__ = "0.1.0"
