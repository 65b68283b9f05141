"""The demo benchmark: nine tasks, ~20 pairs each, whose labels depend on the criterion.

Each task has comparisons (a prompt and two responses that differ in two attributes). Every
comparison appears twice with different criteria: one favours response 1 on one attribute, the
other favours response 2 on the other; every fifth comparison gets a criterion on an attribute
both share instead, which makes a tie. The result is written as JSONL plus a media folder and
goes through the real importer.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from . import synth

COMPARISONS_PER_TASK = 10

Attrs = dict[str, Any]


@dataclass(frozen=True)
class Space:
    values: dict[str, list[Any]]
    criteria: dict[str, Callable[[Any], str]]  # attribute -> criterion favouring that value


IMAGE_SPACE = Space(
    values={
        "shape": ["circle", "square", "triangle"],
        "colour": ["red", "green", "yellow"],
        "size": ["large", "small"],
        "background": ["white", "blue"],
    },
    criteria={
        "shape": lambda v: f"The shape is what matters: prefer the image that shows a {v}.",
        "colour": lambda v: f"Colour is what matters most: prefer the image whose shape is {v}.",
        "size": lambda v: "Prefer the close-up: the shape should fill most of the frame."
        if v == "large"
        else "Prefer the image that leaves plenty of empty space around a small shape.",
        "background": lambda v: f"Only the background counts: prefer a {v} background.",
    },
)
VIDEO_SPACE = Space(
    values={"pattern": ["test pattern", "colour bars", "fractal", "cellular automaton"], "seconds": [2, 4]},
    criteria={
        "pattern": lambda v: f"Prefer the clip that shows {v}; motion quality is secondary.",
        "seconds": lambda v: "Prefer the longer clip: the prompt asks for a sustained shot."
        if v == 4
        else "Prefer the shorter clip: it is meant as a quick loop.",
    },
)
AUDIO_SPACE = Space(
    values={"sound": ["high beep", "low hum", "rain-like noise", "chirp"], "seconds": [1, 3]},
    criteria={
        "sound": lambda v: f"Prefer the clip that sounds like a {v}.",
        "seconds": lambda v: "Prefer the clip that lasts several seconds."
        if v == 3
        else "Prefer the short, one-second clip.",
    },
)
MESH_SPACE = Space(
    values={"shape": ["cube", "sphere", "torus", "cone"], "colour": ["red", "green", "blue", "yellow"]},
    criteria={
        "shape": lambda v: f"Geometry first: prefer the object shaped like a {v}.",
        "colour": lambda v: f"Prefer the {v} object, whatever its shape.",
    },
)

MODELS = {
    "T2T": ("demo-llm-alpha", "demo-llm-beta"),
    "TI2T": ("demo-vlm-alpha", "demo-vlm-beta"),
    "TV2T": ("demo-video-llm-alpha", "demo-video-llm-beta"),
    "TA2T": ("demo-audio-llm-alpha", "demo-audio-llm-beta"),
    "T2I": ("demo-diffusion-alpha", "demo-diffusion-beta"),
    "T2V": ("demo-video-gen-alpha", "demo-video-gen-beta"),
    "T2A": ("demo-audio-gen-alpha", "demo-audio-gen-beta"),
    "T23D": ("demo-3d-gen-alpha", "demo-3d-gen-beta"),
    "TI2I": ("demo-editor-alpha", "demo-editor-beta"),
}

TOPICS = [
    (
        "Explain what a hash table is.",
        "A hash table maps keys to values through a hash function, giving average O(1) lookups.",
    ),
    (
        "Why is the sky blue?",
        "Air molecules scatter short blue wavelengths of sunlight more than red ones (Rayleigh scattering).",
    ),
    ("What does HTTP status 404 mean?", "The server was reached but has nothing at the requested path."),
    (
        "How do vaccines work?",
        "They show the immune system a harmless piece or copy of a germ so it learns to fight the real one.",
    ),
    (
        "What is a Python list comprehension?",
        "A compact expression that builds a list from an iterable: [x * 2 for x in xs].",
    ),
    (
        "Why do we have leap years?",
        "A year is about 365.2422 days, so an extra day every four years keeps calendars aligned.",
    ),
    (
        "What is the difference between RAM and disk?",
        "RAM is fast, temporary working memory; disk is slower but keeps data without power.",
    ),
    (
        "How does a refrigerator keep food cold?",
        "A refrigerant absorbs heat inside as it evaporates and releases it outside as it condenses.",
    ),
    ("What is photosynthesis?", "Plants turn light, water and carbon dioxide into sugar and oxygen."),
    ("What is version control?", "A system such as Git that records changes to files so you can review and undo them."),
    ("What causes tides?", "Mostly the Moon's gravity pulling the oceans, with a smaller pull from the Sun."),
]


def _long_answer(short: str, topic: str) -> str:
    return (
        f"Great question! Let's go through it step by step.\n\n**Short answer:** {short}\n\n"
        f'**Why it works:**\n1. Start from the basic idea behind "{topic.rstrip("?.")}".\n'
        "2. Look at the mechanism in a concrete example.\n3. Check the edge cases people usually miss.\n\n"
        "In practice this matters because the details change how you would apply it, so it's worth "
        "remembering the mechanism and not only the one-line summary."
    )


def _variant_pair(space: Space, rng: random.Random, *, tie: bool) -> tuple[Attrs, Attrs, list[str]]:
    first = {k: rng.choice(v) for k, v in space.values.items()}
    keys = list(space.values)
    # A tie needs an attribute both responses share; with two attributes, change only one.
    changed = rng.sample(keys, 1 if tie and len(keys) <= 2 else 2)
    second = dict(first)
    for key in changed:
        second[key] = rng.choice([v for v in space.values[key] if v != first[key]])
    return first, second, changed


def _criteria(space: Space, first: Attrs, second: Attrs, changed: list[str], *, tie: bool) -> list[tuple[str, str]]:
    """Two criteria for one comparison: opposite winners, or a winner and a tie."""
    criteria = [(space.criteria[changed[0]](first[changed[0]]), "response1")]
    shared = [k for k in space.values if first[k] == second[k]]
    if tie and shared:
        criteria.append((space.criteria[shared[0]](first[shared[0]]), "tie"))
    else:
        criteria.append((space.criteria[changed[1]](second[changed[1]]), "response2"))
    return criteria


class DemoWriter:
    def __init__(self, root: Path, seed: int = 7, comparisons: int = COMPARISONS_PER_TASK) -> None:
        self.root = root
        self.comparisons = comparisons
        self.media = root / "media_data"
        self.rng = random.Random(seed)
        self.rows: list[dict[str, Any]] = []
        self.made: dict[str, Future[None]] = {}  # media path -> its generation
        self.pool = ThreadPoolExecutor(max_workers=os.cpu_count() or 1)

    # --- media, generated once per distinct attribute set ------------------------------------
    # Rows only need the file names, so the files are made side by side (ffmpeg, Pillow and
    # trimesh work outside Python's lock for the most part) and build() waits for all of them.
    def _make(self, rel: str, make: Callable[..., None], **attrs: Any) -> str:
        if rel not in self.made:
            self.made[rel] = self.pool.submit(make, self.media / rel, **attrs)
        return rel

    def image(self, attrs: Attrs, ext: str = "png") -> str:
        rel = f"images/{attrs['shape']}-{attrs['colour']}-{attrs['size']}-{attrs['background']}.{ext}"
        return self._make(rel, synth.image, **attrs)

    def video(self, attrs: Attrs, ext: str = "mp4") -> str:
        rel = f"video/{attrs['pattern'].replace(' ', '-')}-{attrs['seconds']}s.{ext}"
        return self._make(rel, synth.video, pattern=attrs["pattern"], seconds=attrs["seconds"])

    def audio(self, attrs: Attrs, ext: str) -> str:
        rel = f"audio/{attrs['sound'].replace(' ', '-')}-{attrs['seconds']}s.{ext}"
        return self._make(rel, synth.audio, sound=attrs["sound"], seconds=attrs["seconds"])

    def mesh(self, attrs: Attrs, ext: str) -> str:
        rel = f"meshes/{attrs['colour']}-{attrs['shape']}.{ext}"
        return self._make(rel, synth.mesh, shape=attrs["shape"], colour=attrs["colour"])

    # --- rows ---------------------------------------------------------------------------------
    def add(self, task: str, index: int, prompt: str, criteria: list[tuple[str, str]], **fields: Any) -> None:
        model1, model2 = MODELS[task]
        for n, (criterion, label) in enumerate(criteria, start=1):
            self.rows.append(
                {
                    "id": f"demo-{task.lower()}-{index:02d}-{n}",
                    "task": task,
                    "prompt": prompt,
                    "criteria": criterion,
                    "criteria_preference": label,
                    "model1": model1,
                    "model2": model2,
                    "source": "omni-annotate demo",
                    **fields,
                }
            )

    def media_task(
        self, task: str, space: Space, make: Callable[[Attrs, int], str], prompt: Callable[[Attrs], str]
    ) -> None:
        for i in range(self.comparisons):
            tie = i % 5 == 4
            first, second, changed = _variant_pair(space, self.rng, tie=tie)
            self.add(
                task,
                i,
                prompt(first),
                _criteria(space, first, second, changed, tie=tie),
                response1=make(first, i),
                response2=make(second, i + 1),
            )

    def described_input_task(
        self, task: str, space: Space, make: Callable[[Attrs], str], field: str, noun: str
    ) -> None:
        """TI2T/TV2T/TA2T: a correct terse answer against a detailed one that gets the content wrong."""
        for i in range(self.comparisons):
            attrs = {k: self.rng.choice(v) for k, v in space.values.items()}
            wrong = {k: self.rng.choice([x for x in v if x != attrs[k]]) for k, v in space.values.items()}
            terse = f"It is {_describe(attrs)}."
            detailed = (
                f"This {noun} shows {_describe(wrong)}. Looking closely, the composition is balanced and the "
                f"{noun} is clean, with no visible artefacts; overall it is a simple, well-made example."
            )
            criteria = [
                (
                    f"Accuracy about the {noun} matters most: prefer the answer that describes it correctly.",
                    "response1",
                ),
                (f"Prefer the more thorough answer that comments on the quality of the {noun}.", "response2"),
            ]
            if i % 5 == 4:
                criteria[1] = ("Prefer the answer written in English.", "tie")
            self.add(
                task, i, f"Describe this {noun}.", criteria, response1=terse, response2=detailed, **{field: make(attrs)}
            )

    def build(self) -> Path:
        with self.pool:
            self._rows()
            for made in self.made.values():
                made.result()  # a failed generation stops the build with its own error
        self.media.mkdir(parents=True, exist_ok=True)
        out = self.root / "demo.jsonl"
        with open(out, "wb") as fh:
            for row in self.rows:
                fh.write(orjson.dumps(row) + b"\n")
        return out

    def _rows(self) -> None:
        for i, (topic, short) in enumerate(TOPICS[: self.comparisons]):
            criteria = [
                ("Brevity is what matters: prefer the answer that gets to the point in one sentence.", "response1"),
                ("Prefer the answer that explains the reasoning step by step.", "response2"),
            ]
            if i % 5 == 4:
                criteria[1] = ("Prefer the answer that is factually correct.", "tie")
            self.add("T2T", i, topic, criteria, response1=short, response2=_long_answer(short, topic))

        self.described_input_task("TI2T", IMAGE_SPACE, lambda a: self.image(a, "jpg"), "image_path", "image")
        self.described_input_task("TV2T", VIDEO_SPACE, self.video, "video", "video")
        self.described_input_task(
            "TA2T",
            AUDIO_SPACE,
            lambda a: self.audio(a, self.rng.choice(["wav", "mp3", "flac"])),
            "audio_path",
            "recording",
        )
        self.media_task(
            "T2I",
            IMAGE_SPACE,
            lambda a, i: self.image(a, "png" if i % 2 else "jpg"),
            lambda a: f"A simple {a['shape']} icon.",
        )
        self.media_task(
            "T2V",
            VIDEO_SPACE,
            lambda a, i: self.video(a, "webm" if i % 3 == 0 else "mp4"),
            lambda a: "A looping abstract clip.",
        )
        audio_ext = ["wav", "mp3", "flac", "ogg"]
        self.media_task(
            "T2A", AUDIO_SPACE, lambda a, i: self.audio(a, audio_ext[i % 4]), lambda a: "A short sound effect."
        )
        mesh_ext = ["glb", "obj", "ply"]
        self.media_task(
            "T23D", MESH_SPACE, lambda a, i: self.mesh(a, mesh_ext[i % 3]), lambda a: "A simple toy-like 3D object."
        )
        self._edit_task()

    def _edit_task(self) -> None:
        for i in range(self.comparisons):
            source = {k: self.rng.choice(v) for k, v in IMAGE_SPACE.values.items()}
            source["size"] = "small"
            target_colour = self.rng.choice([c for c in IMAGE_SPACE.values["colour"] if c != source["colour"]])
            recoloured = {**source, "colour": target_colour}
            enlarged = {**source, "size": "large"}
            criteria = [
                (f"The colour edit is what counts: the shape must become {target_colour}.", "response1"),
                ("The size edit is what counts: the shape must become much larger.", "response2"),
            ]
            if i % 5 == 4:
                criteria[1] = (f"Prefer the edit that keeps the {source['background']} background.", "tie")
            self.add(
                "TI2I",
                i,
                f"Make the {source['shape']} {target_colour} and larger.",
                criteria,
                image_path=self.image(source),
                response1=self.image(recoloured),
                response2=self.image(enlarged),
            )


def _describe(attrs: Attrs) -> str:
    if "shape" in attrs and "background" in attrs:
        return f"a {attrs['size']} {attrs['colour']} {attrs['shape']} on a {attrs['background']} background"
    if "pattern" in attrs:
        return f"{attrs['pattern']} for about {attrs['seconds']} seconds"
    return f"a {attrs['sound']} lasting about {attrs['seconds']} second{'s' if attrs['seconds'] != 1 else ''}"
