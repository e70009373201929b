"""Step 6 of the flow: prove each part does its real job (see checks.py)."""
