from django.apps import AppConfig


class TestsConfig(AppConfig):
    name = "tests"

    def ready(self):
        import os

        from threadmill.signals import worker_started

        if os.environ.get("THREADMILL_TEST_BOOT_FAIL"):

            def refuse_to_boot(sender, **kwargs):
                raise RuntimeError("THREADMILL_TEST_BOOT_FAIL is set: this worker refuses to boot")

            worker_started.connect(refuse_to_boot, weak=False)
