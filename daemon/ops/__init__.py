"""Operations: Prometheus metrics, the /healthz /readyz /metrics HTTP server, systemd notifications."""
