"""The sidecar in every mysqld Pod: initialisation, probes, clone on request, log rotation.

Modules, one concept each:

* :mod:`~moco.agent.initscript`: the POSIX shell script the user's mysqld image runs in an init
  container (``mysqld --initialize-insecure`` once, then the per-Pod settings file);
* :mod:`~moco.agent.users` / :mod:`~moco.agent.initialize`: moco's users with MOCO's grants,
  plugins, clean GTIDs on a fresh instance; idempotent;
* :mod:`~moco.agent.readiness` (pure) / :mod:`~moco.agent.probes`: ``/healthz`` and ``/readyz``;
* :mod:`~moco.agent.clone`: one clone at a time on the controller's authenticated request;
* :mod:`~moco.agent.isolation`: a primary cut off from every replica makes itself read-only;
* :mod:`~moco.agent.cron` / :mod:`~moco.agent.rotate`: slow/error log rotation;
* :mod:`~moco.agent.metrics`, :mod:`~moco.agent.config`, :mod:`~moco.agent.server` (the process).

The agent talks to its local mysqld only (through :mod:`moco.mysql`), never to the Kubernetes
API (the isolation fence reads the kernel's TCP tables of the Pod's own network namespace).
Errors are :mod:`moco.agent.errors`; passwords and the token never reach a log line.
"""
