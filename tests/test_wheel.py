"""The built wheel is a working package: `uv build` (an sdist, then the wheel from it),
installed into a fresh venv with `uv pip install`, imported from outside the checkout and
used by a minimal Django project: `manage.py check`, every template rendered, every static
file found, a task enqueued (the Lua scripts), and every non-Python file of `threadmill/`
present in the installed package."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "threadmill"
UV = os.environ.get("UV") or shutil.which("uv")  # `uv run` names itself in UV

SETTINGS = """
import os
SECRET_KEY = "wheel-test"
USE_TZ = True
INSTALLED_APPS = [
    "django.contrib.admin", "django.contrib.auth", "django.contrib.contenttypes",
    "django.contrib.sessions", "django.contrib.messages", "django.contrib.staticfiles",
    "django_htmx", "threadmill",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]
TEMPLATES = [{
    "BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True,
    "OPTIONS": {"context_processors": [
        "django.template.context_processors.request",
        "django.contrib.auth.context_processors.auth",
        "django.contrib.messages.context_processors.messages",
    ]},
}]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
STATIC_URL = "/static/"
ROOT_URLCONF = "wheel_urls"
TASKS = {"default": {
    "BACKEND": "threadmill.backends.redis.RedisTaskBackend",
    "REDIS_URL": os.environ["REDIS_URL"],
    "OPTIONS": {"key_prefix": "wheel-test"},
}}
"""

URLS = """
from django.contrib import admin
from django.urls import path
urlpatterns = [path("admin/", admin.site.urls)]
"""

TASKS = """
from django.tasks import task

@task
def ping() -> str:
    return "pong"
"""

PROBE = """
import sys
from pathlib import Path

import django
django.setup()

import threadmill
from django.contrib.staticfiles import finders
from django.core.management import call_command
from django.template import engines

import wheel_tasks

call_command("check", fail_level="ERROR")
package = Path(threadmill.__file__).parent
for template in sorted((package / "templates").rglob("*.html")):
    engines["django"].get_template(str(template.relative_to(package / "templates")))
for static in sorted((package / "static").rglob("*.*")):
    assert finders.find(str(static.relative_to(package / "static"))), static
result = wheel_tasks.ping.enqueue()
print(package)
print(result.status)
"""


def data_files(root: Path) -> set[str]:
    """Every file of the package that is not Python source or bytecode."""
    return {
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.is_file() and p.suffix not in {".py", ".pyc"} and "__pycache__" not in p.parts
    }


@pytest.mark.skipif(UV is None, reason="uv is not on PATH (the wheel test builds with uv)")
def test_the_built_wheel_installs_and_serves_a_django_project(tmp_path, standalone_server):
    def uv(*args: str) -> None:
        done = subprocess.run([UV, *args], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"uv {' '.join(args)}:\n{done.stdout}\n{done.stderr}"

    dist = tmp_path / "dist"
    uv("build", "--quiet", "--out-dir", str(dist), str(ROOT))
    (wheel,) = dist.glob("threadmill-*.whl")
    venv = tmp_path / "venv"
    uv("venv", "--quiet", "--python", sys.executable, str(venv))
    python = venv / "bin" / "python"
    uv("pip", "install", "--quiet", "--python", str(python), f"{wheel}[redis]")

    project = tmp_path / "project"
    project.mkdir()
    for name, text in [
        ("wheel_settings.py", SETTINGS),
        ("wheel_urls.py", URLS),
        ("wheel_tasks.py", TASKS),
        ("probe.py", PROBE),
    ]:
        (project / name).write_text(text)
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PYTHON", "DJANGO_", "VIRTUAL_ENV", "UV_PROJECT"))
    }
    env |= {"DJANGO_SETTINGS_MODULE": "wheel_settings", "REDIS_URL": standalone_server.url}
    done = subprocess.run(
        [str(python), "probe.py"],
        cwd=project,  # not the checkout: `import threadmill` must find the installed one
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    installed, status = done.stdout.split()[-2:]
    assert Path(installed).is_relative_to(venv), installed
    assert status == "READY"
    assert data_files(PACKAGE) <= data_files(Path(installed))  # templates, static, Lua
    wanted = {"backends/lua/lib/1_records.lua", "static/threadmill/admin.css"}
    assert wanted <= data_files(Path(installed))
