"""Teachers write the training targets: review summaries and candidate reasons.

Two kinds, one interface (:class:`Teacher`):

* :class:`OpenAITeacher` asks any OpenAI-compatible endpoint (the paper used GPT-3.5-turbo at
  temperature 0.2 for summaries and 1.0 for reasons). Junk answers and failed calls are retried with
  exponential backoff, then reported as :class:`TeacherError`: never silently empty data.
* :class:`OfflineTeacher` needs no network. Summaries: a sentiment lexicon with negation marks each
  sentence positive or negative and the content words near it become aspects. Reasons: assembled
  from the user's history aspects, the item's history aspects and the aspects of the user's REAL
  review of the target (which the teacher may see; the experts never do), with a verdict taken from
  the review's sentiment (or from the true rating in a hinted retry) and never a number. It is a
  template writer, far weaker than an LLM teacher: its reasons are short, formulaic and only as good
  as keyword matching. The reward model still filters them exactly as the method says.

Example:
    >>> OfflineTeacher().summarize("Musical Instruments", "B01", 5, "Great sturdy stand. Not noisy.")
    'Positive Aspects: great stand, sturdy stand, not noisy\\nNegative Aspects: none\\nUser Preference Elements: stand'
"""

from __future__ import annotations

import random
import re
import time
import zlib
from dataclasses import dataclass
from typing import Protocol

from ..errors import Reason4RecError
from ..experts.prompts import (
    SUMMARY_FIELDS,
    TargetContext,
    clean_text,
    parse_summary,
    reasoner_messages,
    summarizer_messages,
)
from ..experts.aspects import extract_aspects, lexicon_summary, merge_summaries
from .leakage import leaks_rating


class TeacherError(Reason4RecError, RuntimeError):
    """The teacher failed or kept answering junk after its retries."""


class Teacher(Protocol):
    name: str

    def summarize(self, category: str, item_title: str, rating: float, text: str) -> str:
        """Three lines: Positive Aspects / Negative Aspects / User Preference Elements."""
        ...

    def reason(self, ctx: TargetContext, review_text: str, attempt: int,
               hint_rating: float | None = None) -> str:
        """A candidate reason for one target; ``hint_rating`` is set only in hinted retries."""
        ...


# --------------------------------------------------------------------------- offline teacher


class OfflineTeacher:
    """Keyword-and-template teacher: no network, deterministic per (target, attempt)."""

    name = "offline"

    def summarize(self, category: str, item_title: str, rating: float, text: str) -> str:
        return lexicon_summary(text).render()

    def reason(self, ctx: TargetContext, review_text: str, attempt: int,
               hint_rating: float | None = None) -> str:
        seed = zlib.crc32(f"{ctx.item_title}|{review_text[:200]}|{attempt}".encode())
        rng = random.Random(seed)
        user = merge_summaries([parse_summary(e.summary) for e in ctx.user_history])
        item = merge_summaries([parse_summary(e.summary) for e in ctx.item_history])
        real = extract_aspects(review_text, limit=5)
        if hint_rating is not None:
            verdict = 1 if hint_rating >= 4 else -1 if hint_rating <= 2 else 0
        else:
            verdict = 1 if real.polarity > 0 else -1 if real.polarity < 0 else 0
        likes = _pick(rng, user["likes"] + user["positive"], 3)
        parts = []
        if likes:
            parts.append(rng.choice(["The user cares about", "This user tends to value",
                                     "The user's past reviews point to"]) + f" {_join(likes)}.")
        if user["negative"]:
            parts.append(f"They have been let down by {_join(_pick(rng, user['negative'], 2))}.")
        praised, faulted = _pick(rng, item["positive"], 3), _pick(rng, item["negative"], 2)
        if praised or faulted:
            sentence = "Other buyers of this item"
            sentence += f" praise its {_join(praised)}" if praised else ""
            sentence += (" but" if praised else "") + f" mention {_join(faulted)}" if faulted else ""
            parts.append(sentence + ".")
        fits, clashes = _pick(rng, real.positive, 3), _pick(rng, real.negative, 2)
        if fits:
            parts.append(f"For this user the item should deliver {_join(fits)}.")
        if clashes:
            parts.append(f"They may be bothered by {_join(clashes)}.")
        parts.append({1: "Overall it looks like a good match for their preferences.",
                      0: "Overall it is a mixed match: some needs are met, others are not.",
                      -1: "Overall it looks like a poor match for what they want."}[verdict])
        text = " ".join(parts)
        return re.sub(r"\d", "", text)  # numbers never enter an offline reason


def _pick(rng: random.Random, words: list[str], count: int) -> list[str]:
    unique = list(dict.fromkeys(words))
    return rng.sample(unique, min(count, len(unique)))


def _join(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


# --------------------------------------------------------------------------- OpenAI-compatible teacher

@dataclass
class OpenAITeacherSettings:
    model: str = "gpt-3.5-turbo"
    base_url: str | None = None
    """None: OPENAI_BASE_URL (or the OpenAI API)."""
    api_key: str | None = None
    summary_temperature: float = 0.2
    reason_temperature: float = 1.0
    attempts: int = 4
    backoff_s: float = 2.0
    timeout_s: float = 60.0


class OpenAITeacher:
    """The paper's teacher: an LLM behind any OpenAI-compatible endpoint."""

    name = "openai"

    def __init__(self, settings: OpenAITeacherSettings | None = None, client=None, sleep=time.sleep):
        import os

        from openai import OpenAI

        self.settings = settings or OpenAITeacherSettings()
        self.name = f"openai:{self.settings.model}"
        self._sleep = sleep
        self.client = client or OpenAI(
            base_url=self.settings.base_url,
            api_key=self.settings.api_key or os.environ.get("OPENAI_API_KEY") or "not-needed",
            timeout=self.settings.timeout_s, max_retries=0,  # we retry ourselves, junk included
        )

    def summarize(self, category: str, item_title: str, rating: float, text: str) -> str:
        messages = summarizer_messages(category, item_title, rating, text)

        def valid(answer: str) -> str | None:
            summary = parse_summary(answer)
            if not all(field.lower() in answer.lower() for field in SUMMARY_FIELDS):
                return None
            return summary.render()

        return self._ask(messages, self.settings.summary_temperature, valid, "summary")

    def reason(self, ctx: TargetContext, review_text: str, attempt: int,
               hint_rating: float | None = None) -> str:
        messages = reasoner_messages(ctx)
        extra = (f"\n\nFor you only (never quote it): the user later wrote this review: "
                 f"<<<{clean_text(review_text, 1200)}>>>")
        if hint_rating is not None:
            extra += (f"\nThe user's true rating was {int(hint_rating)} of 5. Write a reason consistent "
                      "with it, but never mention the rating, stars or any number.")
        messages[-1] = {"role": "user", "content": messages[-1]["content"] + extra}

        def valid(answer: str) -> str | None:
            answer = clean_text(answer, 1500)
            return answer if len(answer.split()) >= 8 else None

        return self._ask(messages, self.settings.reason_temperature, valid, "reason")

    def _ask(self, messages, temperature: float, valid, what: str) -> str:
        import openai

        problems: list[str] = []
        for attempt in range(self.settings.attempts):
            if attempt:
                self._sleep(self.settings.backoff_s * 2 ** (attempt - 1))
            try:
                response = self.client.chat.completions.create(
                    model=self.settings.model, messages=messages, temperature=temperature)
                answer = (response.choices[0].message.content or "").strip()
            except openai.OpenAIError as err:
                problems.append(f"{type(err).__name__}: {err}")
                continue
            checked = valid(answer)
            if checked:
                return checked
            problems.append(f"unusable {what}: {answer[:80]!r}")
        raise TeacherError(
            f"teacher {self.settings.model!r} gave no usable {what} after "
            f"{self.settings.attempts} attempts: {'; '.join(problems[-3:])}"
        )


def is_clean_reason(text: str) -> bool:
    """A usable candidate: some words, and no rating leak."""
    return len(text.split()) >= 5 and leaks_rating(text) is None
