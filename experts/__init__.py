"""The base model resolver and the LoRA experts (Summarizer, Reasoner, Predictor) over it."""

import logging as _logging

# bitsandbytes (imported by peft and transformers on every model load) warns at import, on CPUs
# with AVX512-BF16, that an optional 4-bit CPU kernel package is missing: nothing for a person to
# act on (4-bit loading is opt-in and works without it), so its warning is kept out of the output.
_logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(_logging.ERROR)
