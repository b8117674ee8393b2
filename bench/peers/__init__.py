"""Drivers for the side-by-side benchmark (`python -m bench.compare`); one per system."""
