"""How good a reason is, without a model: grounding (its aspects found in what the Reasoner was
shown), verdict and completeness (:mod:`.reason_quality`), and choosing among sampled drafts the
one that invents least (:mod:`.reason_drafts`)."""

__all__ = ["reason_drafts", "reason_quality"]
