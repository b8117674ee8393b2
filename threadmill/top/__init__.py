"""`manage.py threadmill_top`: a live terminal view of the queues and the worker pools.

`snapshot` reads (one bounded backend call per frame), `render` draws (pure functions of a
snapshot), `live` owns the terminal (the refresh loop and the keyboard).
"""
