"""Declarative routing rules: load and validate YAML, match classifications, explain decisions."""
