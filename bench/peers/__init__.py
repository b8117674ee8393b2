"""Drivers for the side-by-side benchmark (`bench/compare.py`); one per system."""
