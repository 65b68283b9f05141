"""Media reach browsers only through here: a permission check, then the bytes.

On S3 the browser is redirected to a short-lived presigned URL; on local disk the file is
served with HTTP Range support so that video seeking works. URLs carry the asset's number and
the rendition's role only, never a file name.
"""

from __future__ import annotations

import mimetypes
import re

from django.contrib.auth.decorators import login_required
from django.core.files.storage import FileSystemStorage, default_storage
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_GET

from .access import CURATOR, asset_access
from .models import AssetStatus, MediaAsset, Rendition, RenditionRole

_MAX_RANGE_BYTES = 8 * 1024 * 1024  # browsers ask again for the rest
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
mimetypes.add_type("model/gltf-binary", ".glb")
mimetypes.add_type("model/gltf+json", ".gltf")
mimetypes.add_type("model/obj", ".obj")
mimetypes.add_type("model/stl", ".stl")
mimetypes.add_type("application/x-ply", ".ply")
mimetypes.add_type("video/ogg", ".ogv")
mimetypes.add_type("image/webp", ".webp")


def _content_type(extension: str) -> str:
    return mimetypes.guess_type(f"x.{extension}")[0] or "application/octet-stream"


@login_required
@require_GET
def asset_file(request: HttpRequest, asset_id: int, role: str = RenditionRole.WEB, index: int = 0) -> HttpResponseBase:
    """An asset's rendition (the browser-ready file by default), or its original for curators.

    Annotators only ever get renditions: an original may carry metadata (EXIF, text chunks) that
    names the model. Until an asset is processed its curators get the original in place of the
    browser-ready file, so they can browse an import at once; annotators get nothing (their queue
    holds such pairs back anyway).
    """
    access = asset_access(request.user, asset_id)
    if access is None or (role not in RenditionRole.values and role != "original"):
        raise Http404("No such media.")
    asset = get_object_or_404(MediaAsset, id=asset_id)
    curator = access == CURATOR
    if role == "original" or (role == RenditionRole.WEB and curator and asset.status != AssetStatus.READY):
        if not curator:
            raise Http404("No such media.")
        return _serve(request, asset.file.name, asset.size_bytes, _content_type(asset.extension))
    rendition = Rendition.objects.filter(asset=asset, role=role, index=index).first()
    if rendition is None or asset.status != AssetStatus.READY:
        raise Http404("This media is still being prepared.")
    return _serve(request, rendition.file.name, rendition.size_bytes, rendition.content_type)


def _serve(request: HttpRequest, name: str, size: int, content_type: str) -> HttpResponseBase:
    if not isinstance(default_storage, FileSystemStorage):
        return HttpResponseRedirect(default_storage.url(name))
    try:
        handle = default_storage.open(name, "rb")
    except FileNotFoundError:
        raise Http404("The media file is missing from storage.") from None
    response: HttpResponseBase
    match = _RANGE.match(request.headers.get("Range", ""))
    if match and (match.group(1) or match.group(2)):
        if match.group(1):
            start = int(match.group(1))
            end = min(int(match.group(2)), size - 1) if match.group(2) else size - 1
        else:  # suffix range: the last N bytes
            start, end = max(size - int(match.group(2)), 0), size - 1
        if start > end or start >= size:
            handle.close()
            response = HttpResponse(status=416)
            response["Content-Range"] = f"bytes */{size}"
            return response
        end = min(end, start + _MAX_RANGE_BYTES - 1)
        handle.seek(start)
        response = HttpResponse(handle.read(end - start + 1), status=206, content_type=content_type)
        handle.close()
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
    else:
        response = FileResponse(handle, content_type=content_type)
        response["Content-Length"] = str(size)
    response["Accept-Ranges"] = "bytes"
    response["Cache-Control"] = "private, max-age=3600"
    return response
