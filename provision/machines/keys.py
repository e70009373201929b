"""The lab's own SSH key pair: generated on first use, 0600, outside git."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from provision.errors import HostError


def ensure_key(state_dir: Path, comment: str) -> Path:
    """Path of the lab's private key (ed25519), creating the pair if missing."""
    ssh_dir = state_dir / "ssh"
    ssh_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(ssh_dir, 0o700)
    key = ssh_dir / "id_ed25519"
    if not key.exists():
        if shutil.which("ssh-keygen") is None:
            raise HostError(
                "ssh-keygen is needed to make the lab's key\n  fix: apt-get install openssh-client"
            )
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(key)],
            check=True,
            capture_output=True,
        )
    os.chmod(key, 0o600)
    authorized = ssh_dir / "authorized_keys"
    public = key.with_suffix(".pub").read_text()
    if not authorized.exists() or authorized.read_text() != public:
        authorized.write_text(public)
    # Mounted read-only into the nodes for root and for the non-root login user:
    # sshd reads it as that user, so it must be readable by others (it holds only
    # the public key; the directory around it stays 0700 on this host).
    os.chmod(authorized, 0o644)
    return key
