"""Async operations on one mysqld. Knows nothing about Kubernetes; the only package that imports aiomysql."""
