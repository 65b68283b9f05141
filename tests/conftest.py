from __future__ import annotations

import os
import shutil
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.test import Client

from annotations.models import Project, Role
from omni_annotate.celery import app as celery_app
from tests.factories import MembershipFactory, ProjectFactory, UserFactory
from tests.fixture_release import FixtureRelease, release_write, shared_release
from tests.services import ROOT, S3Server, s3_options, seaweed_s3

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


@pytest.fixture(scope="session")
def generated_release(tmp_path_factory: pytest.TempPathFactory) -> FixtureRelease:
    """The release tests/fixture_release.py writes: once per session, a few seconds of ffmpeg, Pillow, trimesh."""
    return release_write(tmp_path_factory.mktemp("generated-release"))


@pytest.fixture(scope="session")
def fixture_release(request: pytest.FixtureRequest) -> FixtureRelease:
    """The release the importer, archive, media and release tests read (issue 16).

    OMNI_TEST_FIXTURE picks it:
      unset or "auto"  the shared real-world release (../shared/fixtures) when present, else a generated one;
      "generated"      always the release tests/fixture_release.py writes: what a bare clone runs;
      "shared"         the shared release, and a failure if it is missing.
    """
    mode = os.environ.get("OMNI_TEST_FIXTURE", "auto")
    if mode not in ("auto", "generated", "shared"):
        pytest.fail(f"OMNI_TEST_FIXTURE={mode!r}: expected auto, generated or shared")
    if mode != "generated" and FIXTURE_RELEASE.is_dir():
        return shared_release(FIXTURE_RELEASE)
    if mode == "shared":
        pytest.fail(f"OMNI_TEST_FIXTURE=shared but the shared fixture release is missing at {FIXTURE_RELEASE}")
    return request.getfixturevalue("generated_release")


@pytest.fixture
def release_dir(fixture_release: FixtureRelease) -> Path:
    return fixture_release.root


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
