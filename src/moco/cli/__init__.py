"""Entry points: moco-controller, moco-agent, moco-backup, kubectl-moco."""
