"""Turn one raw row into a validated pair draft, reporting every problem with file, row, field."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from annotations.models import Label, PairKind, Task, TaskSpec, task_spec
from media_pipeline.models import MediaKind

from .media import MediaCatalog, MediaError, MediaInfo
from .problems import Problem
from .readers import RawRow

_MAX_SHORT = 200
# Django enums rebuild `.values` on every access; at 300K rows that is seconds.
_LABELS = frozenset(Label.values)


@dataclass(frozen=True)
class ResponseDraft:
    text: str | None = None
    media: MediaInfo | None = None
    mesh: MediaInfo | None = None


@dataclass(frozen=True)
class PairDraft:
    external_id: str
    task: Task
    prompt: str
    criterion: str
    input_media: MediaInfo | None
    response1: ResponseDraft
    response2: ResponseDraft
    model1: str
    model2: str
    source: str
    reference_label: str | None
    kind: str = PairKind.PAIR


class RowChecker:
    """Validates rows against the nine task layouts; one instance per import."""

    def __init__(
        self, catalog: MediaCatalog, default_task: TaskSpec | None, project_tasks: list[str] | None = None
    ) -> None:
        self.catalog = catalog
        self.default_task = default_task
        # The project's declared tasks; empty or None: any of the nine.
        self.project_tasks = frozenset(project_tasks or ())
        self.warnings: dict[str, int] = {}

    def warn(self, message: str) -> None:
        self.warnings[message] = self.warnings.get(message, 0) + 1

    def check(self, row: RawRow) -> tuple[PairDraft | None, list[Problem]]:
        problems: list[Problem] = []
        data = row.data

        def problem(field: str | None, message: str) -> None:
            problems.append(Problem(file=row.file.label, row=row.number, field=field, message=message))

        spec = self._task(row, problem)
        external_id = self._short_text(data, "id", problem, required=True)
        prompt = data.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            problem("prompt", "missing prompt." if prompt in (None, "") else "prompt must be a string.")
        criterion_field = "criteria" if "criteria" in data or "criterion" not in data else "criterion"
        criterion = data.get(criterion_field)
        if criterion is not None and not isinstance(criterion, str):
            problem(criterion_field, "criterion must be a string (leave it empty for a comparison).")
        # No criterion: a comparison, for writers to write criteria for (each becomes a pair).
        comparison = criterion is None or (isinstance(criterion, str) and not criterion.strip())
        if comparison:  # said in the summary, so a misnamed criterion column cannot pass unnoticed
            self.warn(f"no criterion (column `{criterion_field}`): imported as a comparison for criterion writing")
        label = data.get("criteria_preference")
        if label is not None and label not in _LABELS:
            problem("criteria_preference", f"label {label!r} is not one of response1, response2, tie.")
        elif label is not None and comparison:
            problem(
                "criteria_preference",
                f"label {label!r} without a criterion: a label answers a criterion; give both, or neither "
                "for a comparison that writers will write criteria for.",
            )
        model1 = self._short_text(data, "model1", problem)
        model2 = self._short_text(data, "model2", problem)
        source = self._short_text(data, "source", problem)

        input_media: MediaInfo | None = None
        response1 = response2 = None
        if spec is not None:
            if spec.input_field and spec.input_kind:
                input_media = self._media(data, spec.input_field, (spec.input_kind,), problem, required=True)
            response1 = self._response(data, 1, spec, problem)
            response2 = self._response(data, 2, spec, problem)

        if problems or spec is None or response1 is None or response2 is None:
            return None, problems
        assert isinstance(prompt, str) and external_id
        return (
            PairDraft(
                external_id=external_id,
                task=spec.task,
                prompt=prompt,
                criterion="" if comparison else str(criterion).strip(),
                kind=PairKind.COMPARISON if comparison else PairKind.PAIR,
                input_media=input_media,
                response1=response1,
                response2=response2,
                model1=model1,
                model2=model2,
                source=source,
                reference_label=label,
            ),
            [],
        )

    def _task(self, row: RawRow, problem: Any) -> TaskSpec | None:
        raw = row.data.get("task")
        if raw is not None and not isinstance(raw, str):
            problem("task", "task must be a string such as 'T2I' or 'text_to_image'.")
            return None
        named = task_spec(raw) if raw else None
        if raw and named is None:
            problem("task", f"unknown task {raw!r}; expected one of {', '.join(Task.values)} or a config name.")
            return None
        hint = row.file.task_hint
        if hint and named and named != hint:
            problem("task", f"task {raw!r} contradicts the config folder {hint.config}/.")
            return None
        spec = hint or named or self.default_task
        if spec is None:
            problem("task", "no task: add a 'task' field, put the file in a <config>/ folder, or choose a default.")
        elif self.project_tasks and spec.task not in self.project_tasks:
            held = ", ".join(task for task in Task.values if task in self.project_tasks)
            problem("task", f"{spec.task} is not one of this project's tasks ({held}); curators add tasks in Settings.")
            return None
        return spec

    def _short_text(self, data: dict[str, Any], field: str, problem: Any, *, required: bool = False) -> str:
        value = data.get(field)
        if value is None or value == "":
            if required:
                problem(field, f"missing {field}.")
            return ""
        if isinstance(value, int) and not isinstance(value, bool) and field == "id":
            value = str(value)
        if not isinstance(value, str):
            problem(field, f"{field} must be a string.")
            return ""
        if len(value) > _MAX_SHORT:
            problem(field, f"{field} is {len(value)} characters long; at most {_MAX_SHORT} are allowed.")
            return ""
        return value.strip()

    def _response(self, data: dict[str, Any], n: int, spec: TaskSpec, problem: Any) -> ResponseDraft | None:
        field = f"response{n}"
        if not spec.media_responses:
            text = data.get(field)
            if not isinstance(text, str):
                problem(field, f"missing {field}." if text is None else f"{field} must be text for {spec.task}.")
                return None
            if not text.strip():
                self.warn(f"{spec.task}: empty text response")
            return ResponseDraft(text=text)
        media = self._media(data, field, spec.response_kinds, problem, required=True)
        if media is None:
            return None
        mesh: MediaInfo | None = None
        if spec.task == Task.T23D and media.kind == MediaKind.IMAGE:
            mesh = self._mesh(data, n, problem)
            if mesh is None:
                self.warn("T23D: render without a mesh beside it (annotators see the render only)")
        return ResponseDraft(media=media, mesh=mesh)

    def _mesh(self, data: dict[str, Any], n: int, problem: Any) -> MediaInfo | None:
        # Our releases name the mesh in this column (null when there is none); older ones only put it
        # beside the render under the same name, which is looked for when the column is absent or null.
        explicit = data.get(f"response{n}_mesh_path")
        if explicit is not None and not isinstance(explicit, str):
            problem(f"response{n}_mesh_path", "must be a path string relative to media_data/, or empty.")
            return None
        if isinstance(explicit, str) and explicit.strip():
            try:
                return self.catalog.from_path(explicit, (MediaKind.MESH,))
            except MediaError as exc:
                problem(f"response{n}_mesh_path", str(exc))
                return None
        render_path = data.get(f"response{n}_path")
        if not isinstance(render_path, str):
            value = data.get(f"response{n}")
            render_path = value if isinstance(value, str) else None
        return self.catalog.mesh_beside(render_path) if render_path else None

    def _media(
        self, data: dict[str, Any], field: str, kinds: tuple[MediaKind, ...], problem: Any, *, required: bool
    ) -> MediaInfo | None:
        """A media column is a HF struct {bytes, path}, a path string, or empty with `<field>_path` set."""
        value = data.get(field)
        path_value = data.get(f"{field}_path")
        try:
            if isinstance(value, dict) and value.get("bytes"):
                name = value.get("path") or path_value or field
                return self.catalog.from_bytes(value["bytes"], str(name), kinds)
            if isinstance(path_value, str) and path_value:
                return self._from_path(path_value, f"{field}_path", kinds, problem)
            if isinstance(value, dict) and value.get("path"):
                return self._from_path(str(value["path"]), field, kinds, problem)
            if isinstance(value, str) and value:
                return self._from_path(value, field, kinds, problem)
        except MediaError as exc:
            problem(field, str(exc))
            return None
        if required:
            problem(field, f"missing {field}: expected embedded media, a path, or {field}_path.")
        return None

    def _from_path(self, path: str, field: str, kinds: tuple[MediaKind, ...], problem: Any) -> MediaInfo | None:
        try:
            return self.catalog.from_path(path, kinds)
        except MediaError as exc:
            problem(field, str(exc))
            return None
