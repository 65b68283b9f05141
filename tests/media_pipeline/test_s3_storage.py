"""Storage through django-storages against a real S3-compatible server (SeaweedFS `weed mini`)."""

from __future__ import annotations

import hashlib
import os

import pytest
import requests
from boto3.s3.transfer import TransferConfig
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.urls import reverse
from storages.backends.s3 import S3Storage

from annotations.models import Pair
from annotations.services.pair_import import pair_import
from media_pipeline import pipeline
from media_pipeline.models import AssetStatus, Rendition
from tests.conftest import client_for
from tests.services import s3_options

pytestmark = pytest.mark.s3


def test_storage_round_trip_and_multipart_upload(s3_server):
    storage = S3Storage(
        **s3_options(
            s3_server,
            transfer_config=TransferConfig(multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024),
        )
    )
    payload = os.urandom(17 * 1024 * 1024)  # four parts of 5 MB
    name = storage.save("tests/big.bin", ContentFile(payload))
    assert storage.exists(name) and storage.size(name) == len(payload)
    with storage.open(name, "rb") as fh:
        assert hashlib.sha256(fh.read()).digest() == hashlib.sha256(payload).digest()
    head = storage.connection.meta.client.head_object(Bucket=s3_server.bucket, Key=name)
    assert head["ETag"].strip('"').endswith("-4")  # S3 marks multipart uploads with -<parts>
    storage.delete(name)
    assert not storage.exists(name)


@pytest.mark.django_db
def test_import_stores_media_on_s3_and_serves_presigned_urls(
    s3_settings, project, annotator, outsider, fixture_release, release_dir
):
    result = pair_import(project=project, data_path=release_dir)
    assert result.ok, result.problems
    pair = Pair.objects.get(project=project, external_id=fixture_release.ids("text_to_video")[0])
    key = pair.response1_media.file.name
    assert isinstance(default_storage._wrapped, S3Storage) and default_storage.exists(key)

    # The pipeline reads the original from S3 and writes its renditions there.
    assert pipeline.run(pair.response1_media_id) == AssetStatus.READY
    web = Rendition.objects.get(asset_id=pair.response1_media_id, role="web")
    assert web.file.name.startswith("renditions/") and default_storage.exists(web.file.name)
    response = client_for(annotator).get(reverse("media_pipeline:asset_file", args=[pair.response1_media_id]))
    assert response.status_code == 302
    signed = response["Location"]
    assert signed.startswith(s3_settings.endpoint) and "X-Amz-Signature" in signed and "X-Amz-Expires=120" in signed
    fetched = requests.get(signed, timeout=10)
    assert fetched.status_code == 200 and fetched.content[4:8] == b"ftyp"  # an MP4
    with web.file.open("rb") as fh:
        assert fetched.content == fh.read()
    # Without the signature the bucket refuses.
    assert requests.get(signed.split("?")[0], timeout=10).status_code in (401, 403)
    assert (
        client_for(outsider).get(reverse("media_pipeline:asset_file", args=[pair.response1_media_id])).status_code
        == 404
    )
