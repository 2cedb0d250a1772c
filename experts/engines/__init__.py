"""Where the experts' tokens are computed besides transformers: the compiled CPU engine
(llama.cpp: :mod:`.llamacpp`, its GGUF files :mod:`.engine_files` made by :mod:`.gguf_export`) and
a remote OpenAI-compatible server (:mod:`.remote`). Each implements the
:class:`~reason4rec.experts.backend.Backend` protocol; :mod:`~reason4rec.experts.loading` picks one.
"""

__all__ = ["engine_files", "gguf_export", "llamacpp", "remote"]
