"""moco: a Kubernetes operator for MySQL.

moco keeps clusters of one writable primary and N replicas joined by GTID-based, loss-less
semi-synchronous replication. Its API is MOCO's (``moco.cybozu.com/v1beta2``): a manifest written
for MOCO applies here unchanged and means the same thing.

Packages and their direction of dependency (enforced by import-linter, see pyproject.toml)::

    cli -> controllers | agent | backup -> clustering -> kube | mysql | api | mycnf

``kube`` (generic controller machinery) and ``mysql`` (operations on one mysqld) know nothing of
each other nor of MOCO. ``constants`` and ``log`` are leaves everybody may use. ``testing`` holds
the test ground (mysqld launcher, local apiserver) shared by tests, benchmarks and the e2e suite.
"""

__version__ = "0.1.0"
