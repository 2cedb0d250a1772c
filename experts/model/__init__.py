"""The model and its adapters: the bundled base model (:mod:`.bundled`, :mod:`.base_model`), the
LoRA experts over it and their cards (:mod:`.adapters`), the sentence model of the memory
(:mod:`.sentence_model`) and the tiny model the tests train (:mod:`.tiny`)."""

__all__ = ["adapters", "base_model", "bundled", "sentence_model", "tiny"]
