"""Step 1 of the flow: one lab config, read and checked."""

from provision.config.load import load
from provision.config.model import ClusterConfig, Node

__all__ = ["ClusterConfig", "Node", "load"]
