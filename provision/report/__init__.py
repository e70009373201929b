"""Step 7 of the flow: reports of a rebuild for people and CI systems."""
