"""Benchmarks and synthetic data generators for er_toolkit."""
