"""reason4rec: a recommendation assistant that reasons before it rates.

Three LoRA experts on one base model (Summarizer, Reasoner, Predictor) implement the Reason4Rec
method; ``training`` holds the data, splits, baselines and training stages; ``experts`` the base
model resolver and the experts; ``memory`` the review store and vector memory; ``agent`` the
LangGraph deliberation graph. Heavy libraries are imported where used, so this import is cheap.
"""

__version__ = "0.1.0"
