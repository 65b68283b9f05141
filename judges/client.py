"""Calling a model judge on any OpenAI-compatible `/v1/chat/completions` endpoint."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, cast

import openai
from openai.types.chat import ChatCompletion, ChatCompletionMessageParam

from judges.protocol import PairView, Verdict, build_messages, parse_verdict


@dataclass(frozen=True)
class Reply:
    text: str
    latency_ms: int
    prompt_tokens: int | None
    completion_tokens: int | None


class JudgeCallError(Exception):
    """A call that failed after its retries; str() is a sentence a researcher understands."""

    def __init__(self, message: str, *, latency_ms: int = 0) -> None:
        super().__init__(message)
        self.latency_ms = latency_ms


class ChatJudgeClient:
    """One judge model behind one endpoint. The SDK retries timeouts, connection errors, 408/409/429/5xx."""

    def __init__(self, *, base_url: str, model: str, api_key: str | None, timeout_s: float, retries: int) -> None:
        self.base_url = base_url
        self.model = model
        self.timeout_s = timeout_s
        self.retries = retries
        # Local servers (vLLM, llama.cpp) take no key, but the SDK refuses to start without one.
        self._client = openai.OpenAI(
            base_url=base_url, api_key=api_key or "not-needed", timeout=timeout_s, max_retries=retries
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> ChatJudgeClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def ask(self, messages: list[dict[str, Any]], *, temperature: float | None = None, max_tokens: int = 1024) -> Reply:
        """`temperature` None: the endpoint's default, as the paper leaves it (a parse retry can then differ)."""
        started = time.monotonic()
        try:
            completion: object = self._client.chat.completions.create(
                model=self.model,
                # Plain dicts in the documented wire shape; the SDK's TypedDicts are only hints.
                messages=cast("list[ChatCompletionMessageParam]", messages),
                temperature=openai.omit if temperature is None else temperature,
                max_tokens=max_tokens,
            )
        except openai.APIError as err:
            raise JudgeCallError(self._describe(err), latency_ms=_elapsed_ms(started)) from err
        except ValueError as err:
            # A 200 that claims to be JSON but isn't (json.JSONDecodeError is a ValueError).
            raise JudgeCallError(
                f"The judge at {self.base_url} answered with a body that is not valid JSON ({err}).",
                latency_ms=_elapsed_ms(started),
            ) from err
        latency_ms = _elapsed_ms(started)
        return Reply(text=self._answer_text(completion, latency_ms), latency_ms=latency_ms, **_usage(completion))

    def _answer_text(self, completion: object, latency_ms: int) -> str:
        # Without strict validation the SDK hands back whatever came: plain text for a non-JSON
        # body, or a loosely built object with fields missing.
        if not isinstance(completion, ChatCompletion):
            snippet = str(completion)[:200]
            raise JudgeCallError(
                f"The judge at {self.base_url} answered with a body that is not a chat completion: {snippet!r}.",
                latency_ms=latency_ms,
            )
        choices = getattr(completion, "choices", None)
        if not choices:
            raise JudgeCallError(
                f"The judge at {self.base_url} answered without any choices (model {self.model}).",
                latency_ms=latency_ms,
            )
        message = getattr(choices[0], "message", None)
        text = getattr(message, "content", None)
        if not isinstance(text, str):
            finish = getattr(choices[0], "finish_reason", None)
            raise JudgeCallError(
                f"The judge at {self.base_url} answered without message text (finish reason: {finish}).",
                latency_ms=latency_ms,
            )
        return text

    def _describe(self, err: openai.APIError) -> str:
        where = f"The judge at {self.base_url} (model {self.model})"
        tries = f"{self.retries + 1} attempt{'s' if self.retries else ''}"
        # APITimeoutError subclasses APIConnectionError, so it is checked first.
        if isinstance(err, openai.APITimeoutError):
            return f"{where} did not answer within the {self.timeout_s:g} s timeout ({tries})."
        if isinstance(err, openai.APIConnectionError):
            return f"{where} could not be reached ({tries}): {err.__cause__ or err}."
        if isinstance(err, openai.APIStatusError):
            body = err.response.text.strip()[:300] or "empty body"
            return f"{where} answered HTTP {err.status_code}: {body}"
        if isinstance(err, openai.APIResponseValidationError):
            return f"{where} answered with a body that does not match the chat completion format: {err.message}"
        return f"{where} failed: {err}"


def _elapsed_ms(started: float) -> int:
    return round((time.monotonic() - started) * 1000)


def _usage(completion: object) -> dict[str, int | None]:
    usage = getattr(completion, "usage", None)
    prompt = getattr(usage, "prompt_tokens", None)
    completion_tokens = getattr(usage, "completion_tokens", None)
    return {
        "prompt_tokens": prompt if isinstance(prompt, int) else None,
        "completion_tokens": completion_tokens if isinstance(completion_tokens, int) else None,
    }


@dataclass(frozen=True)
class JudgeOutcome:
    verdict: Verdict | None
    raw: str
    status: str  # "ok", "unparseable" or "failed"
    attempts: int
    latency_ms: int
    prompt_tokens: int | None
    completion_tokens: int | None
    error: str


def judge_pair(client: ChatJudgeClient, view: PairView, *, with_tie: bool, max_parse_attempts: int = 5) -> JudgeOutcome:
    """Ask until an answer parses (the paper retries unparseable answers up to 5 times).

    Call failures come back as status "failed", never as an exception. A pair whose media
    cannot be decoded raises protocol.MediaError before any call: that is a data problem, and
    counting it against the judge would lower its accuracy for something it never saw.
    """
    if max_parse_attempts < 1:
        raise ValueError("max_parse_attempts must be at least 1")
    messages = build_messages(view, with_tie=with_tie)
    raw = ""
    latency_ms = 0
    prompt_tokens: int | None = None
    completion_tokens: int | None = None

    def outcome(verdict: Verdict | None, status: str, attempts: int, error: str = "") -> JudgeOutcome:
        return JudgeOutcome(verdict, raw, status, attempts, latency_ms, prompt_tokens, completion_tokens, error)

    for attempt in range(1, max_parse_attempts + 1):
        try:
            reply = client.ask(messages)
        except JudgeCallError as err:
            latency_ms += err.latency_ms
            return outcome(None, "failed", attempt, str(err))
        raw = reply.text
        latency_ms += reply.latency_ms
        prompt_tokens = _add(prompt_tokens, reply.prompt_tokens)
        completion_tokens = _add(completion_tokens, reply.completion_tokens)
        verdict = parse_verdict(reply.text, with_tie=with_tie)
        if verdict is not None:
            return outcome(verdict, "ok", attempt)
    return outcome(None, "unparseable", max_parse_attempts)


def _add(total: int | None, value: int | None) -> int | None:
    if value is None:
        return total
    return (total or 0) + value
