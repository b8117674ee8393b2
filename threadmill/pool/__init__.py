"""The worker pool behind `manage.py threadmill` (Gunicorn's arbiter pattern).

`arbiter` is the master process, `signal_pipe` how signals reach it, and `children` its
view of the worker processes it forks, `worker` a worker process, `runner` runs one task,
`scoreboard` is the memory a worker and the master share, `broker` the master's maintenance
and heartbeat.
"""
