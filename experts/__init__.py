"""The base model resolver and the LoRA experts (Summarizer, Reasoner, Predictor) over it."""
