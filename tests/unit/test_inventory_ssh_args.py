"""The generated inventory's SSH options: a known_hosts path with a space or shell
characters stays one argument when Ansible splits them (it uses shlex)."""

from __future__ import annotations

import shlex

import yaml

from provision.config import load
from provision.inventory import write_inventory
from provision.machines.base import SshEndpoint


def test_a_known_hosts_path_with_a_space_stays_one_ssh_option(lab, write_config, tmp_path):
    config = load(write_config(lab))
    endpoints = {
        n.name: SshEndpoint("127.0.0.1", 2200 + i, "vagrant", str(tmp_path / "key"))
        for i, n in enumerate(config.nodes)
    }
    known = tmp_path / "state dir; -oProxyCommand=id" / "known_hosts"
    out = tmp_path / "hosts.yml"
    write_inventory(out, config, endpoints, known)
    args = yaml.safe_load(out.read_text())["all"]["vars"]["ansible_ssh_common_args"]
    words = shlex.split(args)
    assert f"UserKnownHostsFile={known}" in words, words
    assert "-oProxyCommand=id" not in words
