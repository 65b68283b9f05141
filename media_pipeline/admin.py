from django.contrib import admin

from .models import MediaAsset


@admin.register(MediaAsset)
class MediaAssetAdmin(admin.ModelAdmin):
    list_display = ["sha256", "kind", "extension", "size_bytes", "original_name", "created_at"]
    list_filter = ["kind", "extension"]
    search_fields = ["sha256", "original_name"]
    readonly_fields = ["sha256", "size_bytes", "created_at"]
