"""Vulnerability matching: version orders, OSV evaluation, severity, merged findings."""
