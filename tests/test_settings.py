"""Start-up configuration: defaults that just work, and loud failures that name the variable."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.services import ROOT

_PRINT = (
    "import django, json; django.setup(); from django.conf import settings as s; "
    "print(json.dumps({'db': s.DATABASES['default']['ENGINE'], 'storage': s.STORAGES['default']['BACKEND'], "
    "'eager': s.CELERY_TASK_ALWAYS_EAGER, 'name': str(s.DATABASES['default']['NAME']), "
    "'broker': s.CELERY_BROKER_URL, 'embedded': s.EMBEDDED_BROKER, 'cache': s.CACHES['default']['BACKEND'], "
    "'connect_timeout': s.DATABASES['default'].get('OPTIONS', {}).get('connect_timeout')}))"
)
_OURS = ("DATABASE_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "CACHE_URL", "S3_BUCKET", "S3_ENDPOINT_URL")


def _start(tmp_path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in _OURS and not k.startswith("S3_")}
    clean.update({"DJANGO_SETTINGS_MODULE": "omni_annotate.settings", "OMNI_DATA_DIR": str(tmp_path / "data"), **env})
    return subprocess.run([sys.executable, "-c", _PRINT], cwd=ROOT, env=clean, capture_output=True, text=True)


def test_no_configuration_means_sqlite_local_files_and_a_worker_on_the_embedded_broker(tmp_path):
    done = _start(tmp_path)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen == {
        "db": "django.db.backends.sqlite3",
        "storage": "django.core.files.storage.FileSystemStorage",
        # Jobs go to a real worker through a folder, never run inside the request.
        "eager": False,
        "broker": "filesystem://localhost/",
        "embedded": True,
        # Import progress is written by the worker and read by the web process: a cache both see.
        "cache": "django.core.cache.backends.filebased.FileBasedCache",
        "name": str(tmp_path / "data" / "omni_annotate.sqlite3"),
        "connect_timeout": None,
    }


def test_variables_switch_on_postgres_redis_and_s3(tmp_path):
    done = _start(
        tmp_path,
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/omni",
        CELERY_BROKER_URL="redis://127.0.0.1:6379/0",
        S3_BUCKET="media",
        S3_ENDPOINT_URL="http://127.0.0.1:8333",
        S3_ACCESS_KEY_ID="k",
        S3_SECRET_ACCESS_KEY="s",
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["db"] == "django.db.backends.postgresql" and seen["name"] == "omni"
    assert seen["storage"] == "storages.backends.s3.S3Storage"
    assert seen["eager"] is False
    assert seen["broker"] == "redis://127.0.0.1:6379/0" and seen["embedded"] is False
    assert seen["cache"] == "django.core.cache.backends.redis.RedisCache"
    # A database host that went away makes requests answer 503 after seconds, not hang for minutes.
    assert seen["connect_timeout"] == 5


def test_a_connect_timeout_in_the_database_url_wins(tmp_path):
    done = _start(tmp_path, DATABASE_URL="postgres://postgres@127.0.0.1:5432/omni?connect_timeout=2")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["connect_timeout"] == 2


@pytest.mark.parametrize(
    "env, named",
    [
        ({"DATABASE_URL": "not a url"}, "DATABASE_URL"),
        ({"DATABASE_URL": "mysql://root@127.0.0.1/x"}, "DATABASE_URL"),
        ({"DATABASE_URL": "postgres://127.0.0.1:5432"}, "DATABASE_URL"),
        ({"CELERY_BROKER_URL": "amqp://guest@127.0.0.1//"}, "CELERY_BROKER_URL"),
        ({"CELERY_BROKER_URL": "redis://"}, "CELERY_BROKER_URL"),
        ({"S3_ENDPOINT_URL": "http://127.0.0.1:8333"}, "S3_BUCKET"),
        ({"S3_BUCKET": "b", "S3_ENDPOINT_URL": "ftp://x"}, "S3_ENDPOINT_URL"),
        ({"S3_BUCKET": "b", "S3_ACCESS_KEY_ID": "k"}, "S3_SECRET_ACCESS_KEY"),
        ({"DJANGO_DEBUG": "maybe"}, "DJANGO_DEBUG"),
        ({"DJANGO_DEBUG": "false"}, "DJANGO_SECRET_KEY"),
        ({"OMNI_IMPORT_MAX_UPLOAD_MB": "lots"}, "OMNI_IMPORT_MAX_UPLOAD_MB"),
        ({"OMNI_IMPORT_MAX_UPLOAD_MB": "0"}, "OMNI_IMPORT_MAX_UPLOAD_MB"),
    ],
)
def test_bad_values_stop_start_up_naming_the_variable(tmp_path, env, named):
    done = _start(tmp_path, **env)
    assert done.returncode != 0
    last = done.stderr.strip().splitlines()[-1]
    assert "ImproperlyConfigured" in last and named in last, last
