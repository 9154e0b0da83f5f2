"""my.cnf generation: MOCO's defaults, the user's overrides, and the settings users may not override."""
