"""Step 2 of the flow: machines, made by a provider or already there (SSH)."""
