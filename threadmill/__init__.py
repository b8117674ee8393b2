"""Threadmill: a durable Redis backend, a worker pool, admin pages and a terminal dashboard
for Django's task framework (`django.tasks`)."""

__version__ = "0.1.0"
