"""Benchmarks: commands that print speed and memory figures (never run by the test suite)."""
