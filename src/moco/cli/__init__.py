"""Entry points: ``moco-controller`` (:mod:`moco.cli.controller`), ``moco-agent``
(:mod:`moco.cli.agent`) and the kubectl plugin ``kubectl-moco`` with its completion helper
``kubectl_complete-moco`` (:mod:`moco.cli.kubectl_moco`, over :mod:`moco.plugin`), console
scripts of ``pyproject.toml``.

MOCO also ships ``moco-backup`` (the program of the backup CronJob and restore Job); moco has
none yet (:mod:`moco.backup` is empty so far). The
benchmarks are not entry points: they run as ``python -m moco.bench...`` from the Makefile, and
an import-linter contract keeps them and the test ground (:mod:`moco.testing`) out of every
operator package, this one included.
"""
