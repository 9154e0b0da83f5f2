"""``kubectl moco``: what a MOCO user runs against a MySQLCluster, over the apiserver only.

The plugin is a thin client: it never connects to mysqld itself (``mysql`` hands over to
``kubectl exec`` into the ``mysqld`` container, and ``status`` reads each instance's figures the
same way, as moco-readonly) and changes nothing but what MOCO's plugin changes (annotations on
the MySQLCluster and on the primary's Pod). The controller does the work.

Modules:

* :mod:`moco.plugin.target`: which kubeconfig, context and namespace a command acts on, resolved
  as kubectl resolves them (``--namespace`` > the context's namespace > ``default``);
* :mod:`moco.plugin.errors`: the failures a user sees, each naming the cluster and what to do;
* :mod:`moco.plugin.actions`: pure decisions (refusals, annotation changes, the ``kubectl exec``
  command line, credential formats);
* :mod:`moco.plugin.status`: the one-screen report of ``kubectl moco status`` built from the
  MySQLCluster, its Pods and Events and the instances' figures (pure), as text or JSON;
* :mod:`moco.plugin.live`: those figures (GTID sets, replication, lag, semi-sync), read from
  each mysqld at call time, and why they are never written to the status;
* :mod:`moco.plugin.session`: the reads and patches, through :class:`moco.kube.client.Client`,
  each with a timeout.

Invariants: every apiserver call has a timeout; a refused command changes nothing; a command
that finds the change already made says so and succeeds (every command is idempotent);
passwords are printed only by ``credential`` and never logged.
"""
