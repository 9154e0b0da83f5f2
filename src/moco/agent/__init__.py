"""The sidecar in every mysqld Pod: initialisation, probes, clone on request, log rotation."""
