"""The test ground: real parts that tests, benchmarks and the e2e suite run against.

Like controller-runtime's ``envtest``, this lives in the package so that every tier and every
benchmark uses the same launcher. Nothing in the operator imports it.

- :mod:`moco.testing.ground`: the registry of processes the ground started (PID files), so that
  ``make clean-ground`` can stop exactly those and nothing else.
- :mod:`moco.testing.mysqld`: N real mysqld instances on loopback.
- :mod:`moco.testing.envtest`: real etcd + kube-apiserver on loopback.
- :mod:`moco.testing.pki`: the CA and kubeconfig builder shared by envtest and the e2e local cluster.
- :mod:`moco.testing.checker`: writes sequence-numbered rows through the primary and proves
  nothing acknowledged was lost and no two instances were writable at once.
"""
