"""Benchmarks for ``make bench`` (scripts, not collected by pytest): see ``__main__``."""
