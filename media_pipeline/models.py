from __future__ import annotations

from django.db import models
from django.db.models.functions import Length

from core.models import LeasedJob

models.CharField.register_lookup(Length)


class MediaKind(models.TextChoices):
    IMAGE = "image", "Image"
    VIDEO = "video", "Video"
    AUDIO = "audio", "Audio"
    MESH = "mesh", "3D mesh"


# The pipeline renders every mesh from these cameras, in this order (rendition role "view", index i);
# the viewer shows them where WebGL is off, and model judges receive them.
MESH_VIEW_NAMES = ("front", "side", "back", "top")


# Extensions accepted per kind. Ogg is a container for both audio and video, so the field a file
# arrives in (say `video` or `audio_path`) decides its kind, not the extension alone.
EXTENSIONS: dict[str, frozenset[str]] = {
    MediaKind.IMAGE: frozenset({"jpg", "jpeg", "png", "webp", "gif", "bmp", "tif", "tiff"}),
    MediaKind.VIDEO: frozenset({"mp4", "m4v", "mov", "webm", "mkv", "ogv", "ogg", "avi"}),
    MediaKind.AUDIO: frozenset({"wav", "mp3", "flac", "ogg", "oga", "opus", "m4a", "aac"}),
    MediaKind.MESH: frozenset({"glb", "gltf", "obj", "ply", "stl"}),
}


class AssetStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"


class MediaAsset(LeasedJob):
    """One media file, stored once per distinct content.

    The storage key is derived from the content hash, never from the uploaded name, so a key
    cannot reveal which model made the file. `original_name` is the first name the file was
    imported under, for curators only.

    The pipeline (media_pipeline.pipeline) moves it queued -> running -> ready or failed: a leased
    job (core.jobs), whose lease is renewed while ffmpeg works.
    """

    job_kind = "media"
    job_task = "media_pipeline.celery_tasks.process_asset_task"
    job_queued = AssetStatus.QUEUED
    job_running = AssetStatus.RUNNING
    job_failed = AssetStatus.FAILED
    job_max_attempts = 5

    sha256 = models.CharField(max_length=64, unique=True, help_text="Hex SHA-256 of the original bytes.")
    kind = models.CharField(max_length=8, choices=MediaKind.choices)
    extension = models.CharField(max_length=8, help_text="Lower-case extension of the original, without dot.")
    file = models.FileField(max_length=200, help_text="Original bytes, unchanged, under an opaque key.")
    size_bytes = models.BigIntegerField()
    original_name = models.CharField(max_length=255, blank=True, help_text="First imported name; curators only.")
    created_at = models.DateTimeField(auto_now_add=True)
    status = models.CharField(max_length=8, choices=AssetStatus.choices, default=AssetStatus.QUEUED, db_index=True)
    error = models.TextField(blank=True, help_text="Why processing failed, in words a curator can act on.")
    probe = models.JSONField(default=dict, blank=True, help_text="What ffprobe (or Pillow, trimesh) found.")
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(sha256__length=64), name="mediaasset_sha256_hex_length"),
            models.CheckConstraint(condition=models.Q(kind__in=MediaKind.values), name="mediaasset_kind_valid"),
            models.CheckConstraint(condition=models.Q(size_bytes__gte=0), name="mediaasset_size_nonnegative"),
            models.CheckConstraint(condition=models.Q(status__in=AssetStatus.values), name="mediaasset_status_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.sha256[:12]}"

    @classmethod
    def job_claim_fields(cls, now: object) -> dict[str, object]:
        return {"error": ""}

    @classmethod
    def job_exhausted_message(cls, attempts: int) -> str:
        return (
            f"Processing stopped {attempts} times without finishing (the file may be too large or crash the converter)."
        )

    @classmethod
    def job_failed_hook(cls, pk: int) -> None:
        from .pipeline import assets_settled

        assets_settled([pk])

    @property
    def view_names(self) -> tuple[str, ...]:
        """The rendered views a processed mesh has (rendition role "view", in this order); none otherwise."""
        return MESH_VIEW_NAMES if self.kind == MediaKind.MESH else ()

    @staticmethod
    def storage_key(sha256: str, extension: str) -> str:
        return f"assets/{sha256[:2]}/{sha256}.{extension}"


class RenditionRole(models.TextChoices):
    WEB = "web", "Browser-ready file"  # H.264/AAC MP4, loudness-normalised AAC, WebP/JPEG image, GLB
    POSTER = "poster", "Video poster frame"
    FRAME = "frame", "Evenly sampled video frame"  # what model judges receive, in order
    THUMB = "thumb", "Thumbnail"
    VIEW = "view", "Rendered view of a mesh"  # index into MESH_VIEW_NAMES
    PEAKS = "peaks", "Waveform peaks (JSON)"


class Rendition(models.Model):
    """A file made from an asset's original. Rows appear only once every rendition is stored."""

    asset = models.ForeignKey(MediaAsset, on_delete=models.CASCADE, related_name="renditions")
    role = models.CharField(max_length=8, choices=RenditionRole.choices)
    index = models.PositiveSmallIntegerField(default=0, help_text="Order among frames; 0 otherwise.")
    file = models.FileField(max_length=200)
    content_type = models.CharField(max_length=64)
    size_bytes = models.BigIntegerField()
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["asset", "role", "index"]
        constraints = [
            models.UniqueConstraint(fields=["asset", "role", "index"], name="rendition_unique_role_index"),
            models.CheckConstraint(condition=models.Q(role__in=RenditionRole.values), name="rendition_role_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.asset} {self.role}{self.index or ''}"
