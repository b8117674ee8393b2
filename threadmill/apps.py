"""The threadmill Django app: registers system checks, nothing else."""

from django.apps import AppConfig


class ThreadmillConfig(AppConfig):
    name = "threadmill"
    verbose_name = "Threadmill"
    default_auto_field = "django.db.models.AutoField"

    def ready(self) -> None:
        from threadmill import checks  # noqa: F401  (registers the system checks)
