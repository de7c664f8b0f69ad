"""Maintenance commands for this template, each runnable as `python3 scripts/NAME.py`."""
