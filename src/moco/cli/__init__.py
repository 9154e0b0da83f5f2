"""Entry points: ``moco-controller`` (:mod:`moco.cli.controller`) and ``moco-agent``
(:mod:`moco.cli.agent`), the two console scripts of ``pyproject.toml``.

MOCO also ships ``moco-backup`` (the program of the backup CronJob and restore Job) and the
``kubectl-moco`` plugin; moco has neither yet (:mod:`moco.backup` is empty so far). The
benchmarks are not entry points: they run as ``python -m moco.bench...`` from the Makefile, and
an import-linter contract keeps them and the test ground (:mod:`moco.testing`) out of every
operator package, this one included.
"""
