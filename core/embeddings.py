"""Text embeddings for similarity (near-duplicate criteria, the embedding baseline judge): WordLlama,
loaded once per process from the weights inside its wheel, never downloaded."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any


@lru_cache(maxsize=1)
def wordllama_model() -> Any:
    import wordllama
    from wordllama import WordLlama

    package = Path(wordllama.__file__).parent
    # The wheel ships the default weights and tokenizer; pointing the cache at the package finds them
    # (its own lookup of the tokenizer misses the packaged folder and would try to download).
    return WordLlama.load(cache_dir=package, disable_download=True)
