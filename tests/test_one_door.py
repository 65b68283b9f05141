"""One door for pairs (issue 19): pairs are selected by kind through Pair.objects.labelling() /
.comparisons() (or labelling_q / comparisons_q through a relation), and the media references are
Pair.MEDIA_FIELDS; no module spells either out again, so a new kind or media slot changes one place."""

from __future__ import annotations

import re
from pathlib import Path

from annotations.models import Pair, PairKind

ROOT = Path(__file__).resolve().parents[1]
APPS = ("annotations", "core", "criteria", "judges", "media_pipeline", "releases", "omni_annotate")
# A filter on the kind field (kind=PairKind.X, pairs__kind=...), or the kinds spelt out in SQL.
KIND_FILTER = re.compile(r"\b(\w+__)?kind(__in)?\s*=\s*PairKind\.")
KIND_SQL = re.compile(r"kind\s*=\s*'(pair|comparison)'")
# Every media reference listed again: a line naming the input and a mesh.
MEDIA_TUPLE = re.compile(r'"input_media".*"response\d_mesh"')


def _sources() -> list[Path]:
    return [
        path
        for app in APPS
        for path in (ROOT / app).rglob("*.py")
        if "migrations" not in path.parts and path != ROOT / "annotations" / "models.py"
    ]


def test_no_module_filters_pairs_by_kind_or_lists_their_media_fields_itself():
    found = []
    for path in _sources():
        for n, line in enumerate(path.read_text().splitlines(), start=1):
            # Creating a pair of a kind (kind=PairKind.X as a value in a constructor) is not a filter.
            filtering = KIND_FILTER.search(line) and ("filter(" in line or "Q(" in line or "exclude(" in line)
            if filtering or KIND_SQL.search(line) or MEDIA_TUPLE.search(line):
                found.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert not found, "\n".join(found)


def test_the_doors_select_by_kind(db):
    from tests.factories import PairFactory, ProjectFactory

    project = ProjectFactory()
    pair = PairFactory(project=project)
    comparison = PairFactory(project=project, kind=PairKind.COMPARISON, criterion="")
    assert list(Pair.objects.labelling().filter(project=project)) == [pair]
    assert list(Pair.objects.comparisons().filter(project=project)) == [comparison]
    assert set(Pair.MEDIA_FIELDS) == {f.name for f in Pair._meta.get_fields() if f.name.endswith(("_media", "_mesh"))}
