"""Deployment files (Dockerfile, docker-compose.yml, prometheus.yml) and the local cluster launcher."""
