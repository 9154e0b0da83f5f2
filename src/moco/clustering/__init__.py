"""Per-cluster managers: gather status, decide the state (pure), apply one operation, repeat."""
