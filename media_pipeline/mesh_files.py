"""The trimesh resolver meshes are opened with: a mesh may not pull in other files.

Its own module so that trimesh is imported only by the code that opens meshes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from trimesh.resolvers import Resolver

from media_pipeline.processing import MediaError


class NoFiles(Resolver):
    """A trimesh resolver that refuses every file a mesh refers to."""

    def __init__(self) -> None:
        pass

    def get(self, key: str) -> bytes:
        raise MediaError(f"The mesh refers to another file ({Path(key).name!r}); upload a self-contained GLB.")

    def write(self, name: str, data: Any) -> None:
        raise MediaError("The mesh tried to write a file.")

    def namespaced(self, namespace: str) -> NoFiles:
        return self

    def keys(self) -> list[str]:
        return []
