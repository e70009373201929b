"""Backups of a lab: the archive format (archive.py), its manifest (model.py) and its
one-pass reader (stream.py)."""
