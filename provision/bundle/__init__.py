"""The offline bundle: every Kubernetes artifact the lab needs, with checksums."""
