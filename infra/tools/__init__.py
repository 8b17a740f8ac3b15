"""Operator and developer tools around the system: `orders-ops` (ops.py)."""
