"""Step 4 of the flow: playbooks (Ansible roles) run against the generated inventory."""
