"""Probabilistic record linkage and entity resolution for customer data mastering."""

__version__ = "0.1.0"
