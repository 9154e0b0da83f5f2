"""Entry points: ``moco-controller`` (:mod:`moco.cli.controller`), ``moco-agent``
(:mod:`moco.cli.agent`), ``moco-backup`` (:mod:`moco.cli.backup`: the programs of the backup
CronJob, the restore Job and the binlog archiver, over :mod:`moco.backup`, with MOCO's command
line) and the kubectl plugin ``kubectl-moco`` with its completion helper
``kubectl_complete-moco`` (:mod:`moco.cli.kubectl_moco`, over :mod:`moco.plugin`), console
scripts of ``pyproject.toml``.

The benchmarks are not entry points: they run as ``python -m moco.bench...`` from the Makefile, and
an import-linter contract keeps them and the test ground (:mod:`moco.testing`) out of every
operator package, this one included.
"""
