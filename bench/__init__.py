"""The template's benchmark harness: `python3 scripts/dev.py bench` (see docs/performance.md)."""
