import re

import pytest

from reason4rec.data.leakage import leaks_rating
from reason4rec.experts.prompts import HistoryEntry, TargetContext, parse_summary
from reason4rec.training.teachers import (
    OfflineTeacher,
    OpenAITeacher,
    OpenAITeacherSettings,
    TeacherError,
)

SUMMARY = "Positive Aspects: warm tone\nNegative Aspects: hum\nUser Preference Elements: tube amps"
CTX = TargetContext("Musical Instruments", "Pedal", (HistoryEntry("Amp", 5, SUMMARY),),
                    (HistoryEntry("a buyer", 2, SUMMARY),), 4.0, 3.0, 1, 1)


def test_offline_summary_has_the_three_lines_and_real_aspects():
    text = OfflineTeacher().summarize("Music", "x", 2, "The cable is flimsy and broke. Sound is great though!")
    lines = text.splitlines()
    assert [line.split(":")[0] for line in lines] == ["Positive Aspects", "Negative Aspects",
                                                        "User Preference Elements"]
    parsed = parse_summary(text)
    assert "great" in parsed.positive and "flimsy" in parsed.negative


def test_offline_negation_flips_polarity():
    parsed = parse_summary(OfflineTeacher().summarize("Music", "x", 3, "The strap is not comfortable."))
    assert "not comfortable" in parsed.negative


def test_offline_reason_uses_histories_and_review_but_never_numbers():
    teacher = OfflineTeacher()
    review = "I gave it 5 stars: the warm tone is great but 2 knobs are loose."
    reason = teacher.reason(CTX, review, attempt=0)
    assert not re.search(r"\d", reason)
    assert "warm tone" in reason or "tube amps" in reason
    assert reason == teacher.reason(CTX, review, attempt=0)  # deterministic per attempt
    assert leaks_rating(reason) is None or "star" in review  # digits are stripped; words checked later


def test_offline_hint_sets_the_verdict_in_words_that_carry_it():
    from reason4rec.experts.quality.reason_quality import verdict

    teacher = OfflineTeacher()
    review = "Great tone, love it."
    poor, good = (teacher.reason(CTX, review, attempt=1, hint_rating=r) for r in (1, 5))
    assert "poor match" in poor and verdict(poor) == -1
    assert "should suit them" in good and verdict(good) == 1


def test_offline_reason_names_only_what_the_reasoner_is_shown():
    from reason4rec.experts.prompts import reasoner_messages
    from reason4rec.experts.quality.reason_quality import grounding

    review = "The bamboo body and the AAC, MP4 and FLAC support are great, and the warm tone too."
    reason = OfflineTeacher().reason(CTX, review, attempt=0)
    for invented in ("bamboo", "aac", "flac"):
        assert invented not in reason.lower()
    assert grounding(reason, [m["content"] for m in reasoner_messages(CTX)]).share == 1.0
    assert reason.index("warm tone") < reason.index("Overall")  # the aspect the review is about comes first


def _teacher(server, attempts=3):
    slept = []
    teacher = OpenAITeacher(OpenAITeacherSettings(model="teacher-x", base_url=server.base_url,
                                                  api_key="k", attempts=attempts, backoff_s=0.5),
                            sleep=slept.append)
    return teacher, slept


def test_openai_teacher_retries_junk_with_backoff_then_succeeds(openai_server):
    teacher, slept = _teacher(openai_server)
    openai_server.replies = ["sure!", 500, SUMMARY]
    assert teacher.summarize("Music", "x", 5, "fine") == SUMMARY
    assert slept == [0.5, 1.0]
    assert openai_server.requests[0]["model"] == "teacher-x"
    assert openai_server.requests[0]["temperature"] == 0.2


def test_openai_teacher_reports_persistent_junk(openai_server):
    teacher, _ = _teacher(openai_server, attempts=2)
    openai_server.replies = ["", "ok"]
    with pytest.raises(TeacherError, match="no usable reason after 2 attempts"):
        teacher.reason(CTX, "review", attempt=0)


def test_openai_teacher_reports_a_dead_endpoint():
    teacher = OpenAITeacher(OpenAITeacherSettings(base_url="http://127.0.0.1:9/v1", api_key="k",
                                                  attempts=2, timeout_s=2), sleep=lambda s: None)
    with pytest.raises(TeacherError, match="APIConnectionError"):
        teacher.summarize("Music", "x", 5, "fine")


def test_hinted_prompt_tells_the_rating_and_forbids_it(openai_server):
    teacher, _ = _teacher(openai_server)
    openai_server.replies = ["The user will enjoy the warm tone and sturdy build of this pedal."]
    teacher.reason(CTX, "Loved it", attempt=1, hint_rating=4)
    content = openai_server.requests[0]["messages"][-1]["content"]
    assert "true rating was 4" in content and "never mention the rating" in content
    assert openai_server.requests[0]["temperature"] == 1.0


def test_every_fixed_word_of_a_reason_is_in_the_reason_frame():
    """The aspect guard never forbids the frame's words ("some of their needs are met"): the frame
    it reads must be the one the teacher writes."""
    from reason4rec.experts.prompts import REASON_FRAME

    frame = {w for phrase in REASON_FRAME for w in re.findall(r"[a-z]+", phrase.lower())}
    shown = set(re.findall(r"[a-z]+", SUMMARY.lower()))
    teacher = OfflineTeacher()
    for rating in (1, 2, 3, 4, 5):
        for review in ("Great tone, love it.", "The hum is awful and the tone is thin.", "It is fine."):
            reason = teacher.reason(CTX, review, attempt=rating, hint_rating=rating)
            assert set(re.findall(r"[a-z]+", reason.lower())) - shown <= frame, reason
