"""A release published through the page is built by a real Celery worker over Redis, on PostgreSQL."""

from __future__ import annotations

import hashlib
import io
import json
import time
import zipfile

import pytest
from django.urls import reverse

from annotations.models import Label
from releases.models import Release, ReleaseStatus
from tests.conftest import client_for
from tests.factories import PairFactory
from tests.releases.test_releases import voters, votes  # noqa: F401 -- fixture
from tests.services import celery_worker, worker_env

pytestmark = [pytest.mark.real_worker, pytest.mark.django_db(transaction=True)]


def test_the_worker_builds_the_published_release(project, curator, voters, tmp_path):  # noqa: F811
    for i in range(30):
        pair = PairFactory(project=project, external_id=f"w{i:02d}")
        votes(pair, voters, [Label.RESPONSE1] * 3 if i % 3 else [Label.TIE] * 3)
    env = worker_env(tmp_path)
    client = client_for(curator)
    with celery_worker(env, tmp_path / "worker.log"):
        response = client.post(
            reverse("releases:release_publish", args=[project.slug]), {"notes": "by the worker", "version": 1}
        )
        assert response.status_code == 302
        release = Release.objects.get(project=project)
        deadline = time.monotonic() + 60
        while True:
            page = client.get(response["Location"], HTTP_HX_REQUEST="true").content.decode()
            release.refresh_from_db()
            if release.status != ReleaseStatus.BUILDING:
                break
            assert time.monotonic() < deadline, (tmp_path / "worker.log").read_text()[-3000:]
            time.sleep(0.3)
    assert release.status == ReleaseStatus.READY, release.error
    assert 'id="build"' in page  # the htmx poll answered with the status fragment
    log = (tmp_path / "worker.log").read_text()
    assert "releases.build" in log and "succeeded" in log

    download = client.get(reverse("releases:release_download", args=[project.slug, release.version]))
    body = b"".join(download.streaming_content)
    assert hashlib.sha256(body).hexdigest() == release.archive_sha256
    with zipfile.ZipFile(io.BytesIO(body)) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        without_tie = [n for n in zf.namelist() if n.startswith("without_tie/")]
    assert len(manifest["pairs"]) == 30 and manifest["notes"] == "by the worker"
    assert without_tie == ["without_tie/text_to_text/test-00000-of-00001.parquet"]
