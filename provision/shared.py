"""The values provision's Python code shares with the roles, read from the one file
that defines them, provision/shared_defaults.yml (the defaults of the role
provision_defaults, which links to it; package data, so it is there after
`pip install .` too). A missing key or a file of another shape fails at import,
in every test run, never in a lab."""

from __future__ import annotations

from importlib import resources

import yaml

FILE = "shared_defaults.yml"


def _load() -> dict:
    data = yaml.safe_load(resources.files("provision").joinpath(FILE).read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise RuntimeError(f"provision/{FILE} is not a mapping")
    return data


DEFAULTS = _load()

ADMIN_KUBECONFIG: str = DEFAULTS["provision_admin_kubeconfig"]
ADMIN_KUBECTL: str = DEFAULTS["provision_admin_kubectl"]
ADDONS_NAMESPACE: str = DEFAULTS["provision_addons_namespace"]
CONVERGED_DIR: str = DEFAULTS["provision_converged_dir"]
NFS_MARKER: str = DEFAULTS["provision_nfs_marker"]
NODE_SCRIPTS_DIR: str = DEFAULTS["provision_node_scripts_dir"]
