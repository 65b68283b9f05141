from __future__ import annotations

import shutil
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.test import Client

from annotations.models import Project, Role
from omni_annotate.celery import app as celery_app
from tests.factories import MembershipFactory, ProjectFactory, UserFactory
from tests.services import IN_CI, ROOT, S3Server, s3_options, seaweed_s3

FIXTURE_RELEASE = ROOT.parent / "shared" / "fixtures" / "omnirewardbench_mini"


@pytest.fixture(autouse=True)
def _isolated_media(settings, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(autouse=True)
def _eager_celery(request: pytest.FixtureRequest) -> Iterator[None]:
    """Tasks run in-process unless a test asks for the real worker."""
    if request.node.get_closest_marker("real_worker"):
        yield
        return
    # The app reads Django settings under the CELERY_ namespace, so that is the key to change.
    previous = celery_app.conf.task_always_eager
    celery_app.conf.update(CELERY_TASK_ALWAYS_EAGER=True)
    yield
    celery_app.conf.update(CELERY_TASK_ALWAYS_EAGER=previous)


@pytest.fixture
def release_dir() -> Path:
    if not FIXTURE_RELEASE.is_dir():
        if IN_CI:
            pytest.fail(f"the shared fixture release is missing at {FIXTURE_RELEASE}")
        pytest.skip(f"the shared fixture release is missing at {FIXTURE_RELEASE}")
    return FIXTURE_RELEASE


@pytest.fixture
def release_zip(release_dir: Path, tmp_path: Path) -> Path:
    """The fixture release zipped the way a curator would: one top folder holding the configs."""
    archive = tmp_path / "OmniRewardBench-mini.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(release_dir.rglob("*")):
            if path.is_file():
                zf.write(path, Path("OmniRewardBench-mini") / path.relative_to(release_dir))
    return archive


@pytest.fixture
def release_copy(release_dir: Path, tmp_path: Path) -> Path:
    """A writable copy, for tests that break the release on purpose."""
    copy = tmp_path / "release"
    shutil.copytree(release_dir, copy)
    return copy


@pytest.fixture
def project(db) -> Project:
    return ProjectFactory(slug="bench", name="Bench")


@pytest.fixture
def curator(project):
    return MembershipFactory(project=project, role=Role.CURATOR, user=UserFactory(username="cora")).user


@pytest.fixture
def annotator(project):
    return MembershipFactory(project=project, role=Role.ANNOTATOR, user=UserFactory(username="ann")).user


@pytest.fixture
def outsider(db):
    other = ProjectFactory(slug="elsewhere")
    return MembershipFactory(project=other, role=Role.CURATOR, user=UserFactory(username="otto")).user


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory) -> Iterator[S3Server]:
    """A real S3-compatible server (SeaweedFS `weed mini`) for the tests of one module."""
    with seaweed_s3(tmp_path_factory.mktemp("weed")) as server:
        yield server


@pytest.fixture
def s3_settings(settings, s3_server: S3Server) -> S3Server:
    """Default storage on the test S3 server for one test."""
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": s3_options(s3_server)},
    }
    return s3_server
