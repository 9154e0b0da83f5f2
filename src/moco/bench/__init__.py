"""Benchmarks run by ``make bench-*``; each prints its figures last as one JSON line."""
