"""The MySQLCluster reconciler and its helpers (rendering of owned objects, rolling updates)."""
