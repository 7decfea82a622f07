"""pwlgen: piecewise-linear activation functions from search to silicon."""

__version__ = "0.1.0"
