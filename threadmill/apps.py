"""The threadmill Django app: registers the system checks and, where the admin is installed,
the receiver that writes a finished bulk job's history entry."""

from django.apps import AppConfig, apps


class ThreadmillConfig(AppConfig):
    name = "threadmill"
    verbose_name = "Threadmill"
    default_auto_field = "django.db.models.AutoField"

    def ready(self) -> None:
        from threadmill import checks  # noqa: F401  (registers the system checks)

        if apps.is_installed("django.contrib.admin"):
            from threadmill.admin.history import on_bulk_job_finished
            from threadmill.signals import bulk_job_finished

            bulk_job_finished.connect(on_bulk_job_finished, dispatch_uid="threadmill.history")
