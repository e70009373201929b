"""Backups of a lab: the archive format (archive.py)."""
