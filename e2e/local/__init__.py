"""The ``local`` cluster provider: a real Kubernetes made of processes on this machine.

No container engine is needed: etcd, kube-apiserver, kube-controller-manager and kube-scheduler
run on the host; each node is a network namespace with its own containerd + runc, kubelet and
kube-proxy; CoreDNS and the local-path provisioner run as Pods from images built here.

Modules: :mod:`spec` (names, addresses, directories — pure), :mod:`pki` (certificates and
kubeconfigs), :mod:`netguard` (the network guard), :mod:`images` (images without an engine),
:mod:`control_plane`, :mod:`node`, :mod:`addons`, :mod:`cluster` (up, down, inventory),
:mod:`procs` (recorded processes). ``python -m e2e.local`` is the command line.

Invariants: the network guard is in place before the first container starts and traffic goes
only to loopback and to namespaces made here; every process is recorded by PID and start time;
``down`` removes every process, mount, namespace, link, route, rule and cgroup that ``up`` added.
"""
