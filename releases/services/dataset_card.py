"""The README.md of a release archive: a Hugging Face dataset card.

The YAML header declares one config per task with a `test` and a `test_without_tie` split, so
`datasets.load_dataset(<folder>, "<config>")` works on the unzipped archive as it does on the
published Omni-RewardBench. User text (project name, notes) never reaches YAML unquoted: every
such value goes through `yaml_quote`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from annotations.models import TASK_BY_CONFIG, Label
from releases.models import Release

# Hugging Face task categories per config, as on the Omni-RewardBench card.
TASK_CATEGORIES: dict[str, str] = {
    "text_to_text": "text-generation",
    "text_image_to_text": "image-text-to-text",
    "text_video_to_text": "video-text-to-text",
    "text_audio_to_text": "audio-text-to-text",
    "text_to_image": "text-to-image",
    "text_to_video": "text-to-video",
    "text_to_audio": "text-to-audio",
    "text_to_3D": "text-to-3d",
    "text_image_to_image": "image-to-image",
}

_GATE_WORDS: dict[str, str] = {
    "min_votes": "counted votes a pair needs",
    "min_majority_share": "share of counted votes the majority label needs",
    "tie_policy": "how tie votes are treated",
    "min_gold_accuracy": "gold accuracy below which an annotator's votes are not counted",
    "min_gold_judged": "gold pairs an annotator must have judged before that bar applies",
    "criterion_flips_only": "only pairs whose comparison's label flips with the written criterion",
}


def yaml_quote(text: str) -> str:
    """A double-quoted scalar that is valid YAML (1.1 and 1.2) and valid JSON.

    json.dumps alone is not enough: YAML readers refuse C1 control characters and fold U+2028/9
    as line breaks, so those are escaped too.
    """
    out = ['"']
    for char in text:
        code = ord(char)
        if char in '"\\':
            out.append("\\" + char)
        elif (
            0x20 <= code <= 0x7E
            or (0xA0 <= code <= 0xD7FF and code not in (0x2028, 0x2029))
            or (0xE000 <= code <= 0xFFFD and code != 0xFEFF)
            or code >= 0x10000
        ):
            out.append(char)
        else:
            out.append(f"\\u{code:04x}")
    out.append('"')
    return "".join(out)


def _size_category(pairs: int) -> str:
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if pairs < limit:
            return name
    return "1M<n<10M"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _cell(text: str) -> str:
    return _one_line(text).replace("|", "\\|")


def _yaml_header(release: Release, counts: Mapping[str, Counter[str]]) -> list[str]:
    total = sum(sum(c.values()) for c in counts.values())
    lines = [
        "---",
        "license: other",
        f"pretty_name: {yaml_quote(f'{release.project.name} v{release.version}')}",
        "size_categories:",
        f"- {_size_category(total)}",
        "task_categories:",
        *(f"- {category}" for category in dict.fromkeys(TASK_CATEGORIES[config] for config in counts)),
        "tags:",
        "- reward-modeling",
        "- preference-alignment",
        "- multimodal",
        "- free-form-criteria",
        "configs:",
    ]
    for config, labels in counts.items():
        lines += [f"- config_name: {config}", "  data_files:", "  - split: test", f"    path: {config}/test-*.parquet"]
        # `datasets` refuses to load a config with an empty split, so a task whose pairs are all ties
        # declares no tie-less split (its empty without_tie/ file stays, for the layout).
        if sum(labels.values()) > labels[Label.TIE]:
            lines += ["  - split: test_without_tie", f"    path: without_tie/{config}/test-*.parquet"]
    lines.append("---")
    return lines


def _label_table(counts: Mapping[str, Counter[str]]) -> list[str]:
    lines = [
        "| task | config | pairs | response1 | response2 | tie | without tie |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    totals: Counter[str] = Counter()
    for config, labels in counts.items():
        spec = TASK_BY_CONFIG[config.lower()]
        n = sum(labels.values())
        r1, r2, tie = labels[Label.RESPONSE1], labels[Label.RESPONSE2], labels[Label.TIE]
        totals.update(labels)
        lines.append(f"| {spec.task.value} | `{config}` | {n:,} | {r1:,} | {r2:,} | {tie:,} | {n - tie:,} |")
    n = sum(totals.values())
    r1, r2, tie = totals[Label.RESPONSE1], totals[Label.RESPONSE2], totals[Label.TIE]
    lines.append(f"| **all** | | {n:,} | {r1:,} | {r2:,} | {tie:,} | {n - tie:,} |")
    return lines


def _gate_lines(gate: Any) -> list[str]:
    if not isinstance(gate, dict) or not gate:
        return ["The gate rule was not recorded."]
    lines = ["A pair entered this release only if it passed the project's gate rule at publication:", ""]
    for key, value in gate.items():
        words = _GATE_WORDS.get(str(key))
        shown = "none" if value is None else value
        lines.append(f"- `{key}` = `{shown}`" + (f" ({words})" if words else ""))
    lines += [
        "",
        "A pair's label is the majority of its counted votes, a gold answer, or a curator's adjudication of a "
        "disputed pair; `manifest.json` says which for every pair (`source`), with the vote counts.",
    ]
    return lines


def _alpha_entries(statistics: Any, prefix: tuple[str, ...] = (), depth: int = 0) -> Iterator[tuple[str, dict]]:
    """Find `{"alpha": {"value": .., "low": .., "high": ..}}` entries up to two levels down."""
    if not isinstance(statistics, dict) or depth > 2:
        return
    alpha = statistics.get("alpha")
    if isinstance(alpha, dict) and "value" in alpha:
        yield " / ".join(prefix) or "overall", alpha
    for key, value in statistics.items():
        if key != "alpha" and isinstance(value, dict):
            # {"tasks": {"T2I": {"alpha": ..}}} reads better as "T2I" than "tasks / T2I".
            inner = prefix if (not prefix and key == "tasks") else (*prefix, str(key))
            yield from _alpha_entries(value, inner, depth + 1)


def _number(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "n/a"
    return f"{value:.3f}"


def _agreement_lines(statistics: Any) -> list[str]:
    entries = list(_alpha_entries(statistics))
    if not entries:
        return []
    lines = [
        "## Agreement",
        "",
        "Krippendorff's alpha (nominal: response1 / response2 / tie) over the human judgments at publication, "
        "with its confidence interval where one was computed. 0.8 is conventionally reliable, 0.667 the lowest "
        "value for tentative conclusions.",
        "",
        "| scope | alpha | low | high | note |",
        "|---|---:|---:|---:|---|",
    ]
    for scope, alpha in entries:
        note = alpha.get("note")
        lines.append(
            f"| {_cell(scope)} | {_number(alpha.get('value'))} | {_number(alpha.get('low'))} | "
            f"{_number(alpha.get('high'))} | {_cell(note) if isinstance(note, str) else ''} |"
        )
    return [*lines, ""]


def _loading_lines(counts: Mapping[str, Counter[str]]) -> list[str]:
    config = next(iter(counts))
    return [
        "## Loading",
        "",
        "```python",
        "from datasets import load_dataset",
        "",
        "bench = load_dataset(",
        '    "parquet",',
        "    data_files={",
        f'        "test": "{config}/test-*.parquet",',
        f'        "test_without_tie": "without_tie/{config}/test-*.parquet",',
        "    },",
        ")",
        "```",
        "",
        'From the unzipped folder, `load_dataset("path/to/folder", "<config>")` reads the configs declared above '
        "(a task whose pairs are all ties has no `test_without_tie` split).",
        "",
    ]


def _media_lines(remuxed: Sequence[str]) -> list[str]:
    lines = [
        "## Media",
        "",
        "Image and audio columns are Hugging Face `Image` / `Audio` features with the original bytes embedded; "
        "video columns hold paths. The same files sit under `media_data/`, and the `*_path` columns "
        "(and the `path` of each embedded file) give their path relative to `media_data/`. File names are derived "
        "from the content and reveal nothing about the model that produced a response.",
        "",
        "Text-to-3D: `response1` / `response2` always hold an image of the object. A response that came with a "
        "render keeps it; a response that came as a mesh alone holds a grey, evenly lit render of the mesh made by "
        "the annotation tool's media pipeline. The mesh, when there is one, sits beside its render under the same "
        "name with the mesh's extension, and `response1_mesh_path` / `response2_mesh_path` give its path "
        "(empty when the response has no mesh).",
        "",
        "Every video declares its duration in its container, as readers that seek by it (decord) require. "
        + (
            f"{len(remuxed)} original(s) declared none and were remuxed losslessly (stream copy, no re-encoding); "
            "`manifest.json` lists them under `remuxed` with the original's SHA-256: "
            + ", ".join(f"`media_data/{name.removeprefix('media_data/')}`" for name in remuxed)
            + "."
            if remuxed
            else "No original needed remuxing."
        ),
        "",
        "`manifest.json` lists every pair with its label, the label's source, the vote counts and the SHA-256 of "
        "every media file, so a copy can be checked file by file.",
        "",
    ]
    return lines


def _tie_kind_lines(summary: Any, counts: Mapping[str, Counter[str]]) -> list[str]:
    """What the `tie_kind` column means, and the ties per kind per task; nothing on a release without it."""
    if not isinstance(summary, dict) or not isinstance(summary.get("tie_kinds"), dict):
        return []
    lines = [
        "## Tie kinds",
        "",
        "On this project every tie vote also said whether both responses meet the criterion (`both_good`) or "
        "both fail it (`both_bad`). `criteria_preference` keeps the paper's `tie`; the added `tie_kind` column "
        "gives the kind most of the pair's counted tie votes named, `mixed` when as many named each, and is "
        "empty when no counted tie vote named a kind (a tie settled by a gold answer or a curator's "
        "adjudication, or tie votes cast before the project asked for kinds). It is empty on `response1` and "
        "`response2` pairs. `manifest.json` repeats it per pair.",
        "",
        "| task | ties | both_good | both_bad | mixed | empty |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    tasks = summary.get("tasks")
    tasks = tasks if isinstance(tasks, dict) else {}
    for config in counts:
        code = TASK_BY_CONFIG[config.lower()].task.value
        kinds = (tasks.get(code) or {}).get("tie_kinds") or {}
        cells = [int(kinds.get(name) or 0) for name in ("both_good", "both_bad", "mixed", "none")]
        lines.append(f"| {code} | {sum(cells):,} | " + " | ".join(f"{n:,}" for n in cells) + " |")
    return [*lines, ""]


def _paper_lines(counts: Mapping[str, Counter[str]]) -> list[str]:
    config = next(iter(counts))
    return [
        "## The paper's evaluation layout",
        "",
        "Beside the parquet files, `<config>_preferences.json` holds the same rows as one JSON list per task, "
        "the layout the Omni-Reward evaluation code reads: every media field (`image`, `video`, `audio`, "
        "`response1`, `response2`, and the `*_path` columns) is a path string relative to `media_data/`, and "
        f"`id` is kept. Point the code's data folder at this folder (e.g. `{config}_preferences.json`) and its "
        "visual path at `media_data/`; it filters ties itself for accuracy w/o tie.",
        "",
    ]


def render_dataset_card(*, release: Release, counts: Mapping[str, Counter[str]], remuxed: Sequence[str] = ()) -> str:
    """`counts`: label counts per config, in the order the configs appear in the archive; `remuxed`: the
    media_data/ entries shipped as a lossless remux of their original."""
    project = release.project
    title = _one_line(f"{project.name} v{release.version}")
    created_by = release.created_by.get_username() if release.created_by else None
    lines = [
        *_yaml_header(release, counts),
        "",
        f"# {title}",
        "",
        f"Version {release.version} of the pairwise preference benchmark of project `{project.slug}`, published "
        f"{release.created_at:%Y-%m-%d}" + (f" by {created_by}." if created_by else "."),
        "",
        "Each row is a prompt, two responses, a free-form criterion (`criteria`) and the human preference under "
        "that criterion (`criteria_preference`: `response1`, `response2` or `tie`). The layout follows "
        "Omni-RewardBench: one folder per task config holding its `test` split as parquet, a `without_tie/` "
        "copy without the tie pairs (for accuracy w/o tie), and every media file under `media_data/`.",
        "",
        "## Pairs and labels",
        "",
        *_label_table(counts),
        "",
        "## Gate rule",
        "",
        *_gate_lines(release.gate),
        "",
        *_agreement_lines(release.statistics),
        *_tie_kind_lines(release.summary, counts),
        *_loading_lines(counts),
        *_paper_lines(counts),
        *_media_lines(remuxed),
    ]
    if release.notes.strip():
        lines += ["## Release notes", "", release.notes.strip(), ""]
    return "\n".join(lines)
