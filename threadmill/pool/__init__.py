"""The worker pool behind `manage.py threadmill` (Gunicorn's arbiter pattern).

`arbiter` is the master process, `worker` a worker process, `runner` runs one task,
`slots` is the memory the two share, `broker` the master's maintenance and heartbeat.
"""
