"""manage.py for the Django-based peers: `python peer_manage.py COMMAND ...`."""

import logging
import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "peer_django_settings")

if __name__ == "__main__":
    import django

    django.setup()
    if os.environ["BENCH_SYSTEM"] == "threadmill-pypi":
        # threadmill 0.3.1 logs two INFO lines per task to stderr and sets that level at
        # import time, with no flag to change it; every other system runs with per-task
        # logging off, so turn it down the way a settings module could. (Harmless for the
        # later releases, which leave the level at WARNING.)
        import multiprocessing

        import threadmill.executor  # noqa: F401

        multiprocessing.get_logger().setLevel(logging.WARNING)
    if os.environ.get("BENCH_COUNT_QUERIES"):
        from query_counter import install

        install()
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
