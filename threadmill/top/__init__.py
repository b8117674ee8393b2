"""`manage.py threadmill_top`: a live terminal view of the queues and the worker pools.

`snapshot` reads (one bounded backend call per frame) and makes the `views` of a frame
(`view_builders`), `render` draws the screen from the `panels` (pure functions of a
snapshot, built from the `layout` blocks), `live` owns the terminal (the refresh loop and
the keyboard).
"""
