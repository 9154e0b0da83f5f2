"""Tests of moco.mysql and of the mysqld launcher (unit tests and the mysql tier)."""
