"""Teachers write the training targets: review summaries and candidate reasons.

Two kinds, one interface (:class:`Teacher`):

* :class:`OpenAITeacher` asks any OpenAI-compatible endpoint (the paper used GPT-3.5-turbo at
  temperature 0.2 for summaries and 1.0 for reasons). Junk answers and failed calls are retried with
  exponential backoff, then reported as :class:`TeacherError`: never silently empty data.
* :class:`OfflineTeacher` needs no network. Summaries: VADER sentence polarity and opinion-target
  pairs (``training/review_aspects.py``). Reasons: the user's and the item's history aspects (only
  what the Reasoner is shown), ranked by what the user's REAL review of the target talks about
  (which the teacher may see; the experts never do), with a verdict from that review's sentiment
  (or from the true rating in a hinted retry), in words whose sentiment agrees with the verdict, and
  never a number. A template writer, far weaker than an LLM teacher; ``bench/teacher_quality.py``
  measures its reasons as the evaluation measures the Reasoner's. The reward model still filters
  them exactly as the method says.

Example:
    >>> OfflineTeacher().summarize(
    ...     "Musical Instruments", "B01", 5, "Great sound quality. The clip broke after a week."
    ... )
    'Positive Aspects: great sound quality\\nNegative Aspects: clip broke\\nUser Preference Elements: \
sound quality, clip, week'
"""

from __future__ import annotations

import random
import re
import time
import zlib
from dataclasses import dataclass
from typing import Protocol

from ..data import leaks_rating
from ..errors import Reason4RecError
from ..experts import (
    MIXED_CLOSING,
    NEGATIVE_CLOSING,
    POSITIVE_CLOSING,
    SUMMARY_FIELDS,
    TargetContext,
    aspect_phrases,
    clean_text,
    merge_summaries,
    parse_summary,
    reasoner_messages,
    spoken_list,
    stems,
    stop_words,
    summarizer_messages,
)
from .review_aspects import read_review, sentence_polarity


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
    """Opinion-pair and template teacher: no network, deterministic per (target, attempt).

    Summaries are :func:`~reason4rec.training.review_aspects.read_review` (VADER sentence polarity,
    opinion-target pairs). A reason names only what the Reasoner is shown: aspects from the user's
    and the item's history summaries, ranked first by what the user's real review of the target
    talks about. The real review decides the verdict (its VADER polarity, or the true rating in a
    hinted retry) and never lends an aspect the histories do not have, so the Reasoner never
    learns to invent. The verdict is stated in words whose sentiment agrees with it.
    """

    name = "offline"

    def summarize(self, category: str, item_title: str, rating: float, text: str) -> str:
        return read_review(text).render()

    def reason(self, ctx: TargetContext, review_text: str, attempt: int,
               hint_rating: float | None = None) -> str:
        rng = random.Random(zlib.crc32(f"{ctx.item_title}|{review_text[:200]}|{attempt}".encode()))
        # the phrases as the histories write them ("warm tone"), as the shipped Reasoner learnt them
        user = merge_summaries([parse_summary(e.summary) for e in ctx.user_history], as_aspects=False)
        item = merge_summaries([parse_summary(e.summary) for e in ctx.item_history], as_aspects=False)
        about = set(stems(" ".join(aspect_phrases(review_text, stop_words())).split()))
        if hint_rating is not None:
            verdict = 1 if hint_rating >= 4 else -1 if hint_rating <= 2 else 0
        else:
            verdict = sentence_polarity(review_text)
        likes = _ranked(user["likes"] + user["positive"], about, rng, 3)
        dislikes = _ranked(user["negative"], about, rng, 2)
        praised = _ranked(item["positive"], about, rng, 3)
        faulted = _ranked(item["negative"], about, rng, 2)
        parts = []
        if likes:
            verb = {1: "valued", 0: "wrote about", -1: "looked for"}[verdict]
            parts.append(f"In past reviews the user {verb} {spoken_list(likes)}.")
        if dislikes:
            parts.append(f"They were disappointed by {spoken_list(dislikes)}.")
        if praised and verdict >= 0:
            sentence = f"Other buyers of this item praise {spoken_list(praised)}"
            parts.append(sentence + (f" but mention {spoken_list(faulted)}." if faulted else "."))
        elif faulted and verdict > 0:
            parts.append(f"A few buyers of this item mention {spoken_list(faulted)}.")
        elif faulted:
            parts.append(f"Other buyers of this item complain about {spoken_list(faulted)}.")
        elif praised:
            parts.append(f"Other buyers of this item mention {spoken_list(praised)}.")
        shared = _shared(likes, praised)
        if shared and verdict > 0:
            parts.append(f"What buyers say about {shared} matches what this user looks for.")
        elif faulted and verdict < 0:
            parts.append(f"Problems such as {faulted[0]} are the kind that have disappointed them before.")
        parts.append({1: POSITIVE_CLOSING, 0: MIXED_CLOSING, -1: NEGATIVE_CLOSING}[verdict])
        return re.sub(r"\s+", " ", re.sub(r"\d", "", " ".join(parts))).strip()  # never a number


def _ranked(phrases: list[str], about: set[str], rng: random.Random, count: int) -> list[str]:
    """Up to ``count`` distinct phrases: those sharing a stem with ``about`` first, then a seeded pick."""
    unique = [p for p in dict.fromkeys(phrases) if p and p != "none"]
    relevant = [p for p in unique if about.intersection(stems(p.split()))]
    rest = [p for p in unique if p not in relevant]
    return (relevant + rng.sample(rest, len(rest)))[:count]


def _shared(likes: list[str], praised: list[str]) -> str | None:
    """A praised aspect that shares a stem with one the user values, if any."""
    wanted = set(stems(" ".join(likes).split()))
    return next((p for p in praised if wanted.intersection(stems(p.split()))), None)


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
