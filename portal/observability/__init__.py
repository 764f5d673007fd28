"""Seeing the portal run: request ids, JSON log lines, Prometheus metrics (README "Metrics, logs and health")."""
