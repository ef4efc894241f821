"""Fault and security tests: the guarantees of DESIGN.md under kill -9, outages, poison, hostile callers."""
