"""Django settings for the test suite.

The Redis URL comes from THREADMILL_TEST_REDIS_URL: the test session starts its own
redis-server and exports it (subprocesses such as worker pools inherit it, or get their own).
"""

import json
import os

SECRET_KEY = "threadmill-tests-only"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "tests.urls"
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "threadmill",
    "tests.apps.TestsConfig",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.csp",
            ]
        },
    }
]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("THREADMILL_TEST_DB", ":memory:"),
    }
}
STATIC_URL = "/static/"
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"

REDIS_URL = os.environ.get("THREADMILL_TEST_REDIS_URL", "redis://127.0.0.1:1/0")
TASK_OPTIONS = json.loads(os.environ.get("THREADMILL_TEST_OPTIONS") or "{}")
# More aliases with the same settings (pools serving several aliases of one cluster).
TASK_ALIASES = json.loads(os.environ.get("THREADMILL_TEST_ALIASES") or "[]")
TASKS = {
    alias: {
        "BACKEND": "threadmill.backends.redis.RedisTaskBackend",
        "REDIS_URL": REDIS_URL,
        "QUEUES": ["default", "high", "low"],
        "OPTIONS": TASK_OPTIONS,
    }
    for alias in ["default", *TASK_ALIASES]
}
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "loggers": {"threadmill": {"handlers": ["stderr"], "level": "INFO"}},
}

# Fast password hashing: the admin tests log users in constantly.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# A strict Content-Security-Policy (Django's own middleware): the admin pages must work
# without inline scripts, inline handlers or eval; the browser test reports violations.
from django.utils.csp import CSP  # noqa: E402

MIDDLEWARE.append("django.middleware.csp.ContentSecurityPolicyMiddleware")
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF, CSP.NONCE],
    "img-src": [CSP.SELF, "data:"],
}
