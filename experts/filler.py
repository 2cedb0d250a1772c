"""The words that are never an aspect of a product on their own, in one list the aspect rules
(:mod:`.product_aspects`) and the Reasoner's aspect guard (:mod:`.aspect_guard`) both read."""

from __future__ import annotations

FILLER = frozenset(["thing", "things", "stuff", "lot", "lots", "bit", "way", "ways", "time", "times", "day", "days",
                    "week", "weeks", "month", "months", "year", "years", "hour", "hours", "minute", "minutes", "one",
                    "ones", "review", "reviews", "reviewer", "star", "stars", "amazon", "product", "products",
                    "item", "items", "purchase", "purchases", "order", "orders", "buy", "deal", "job", "use",
                    "usage", "reason", "reasons", "fact", "kind", "sort", "type", "part", "parts", "piece", "pieces",
                    "problem", "problems", "issue", "issues", "complaint", "complaints", "con", "cons", "pro",
                    "pros", "everything", "anything", "something", "nothing", "none", "nobody", "everyone", "anyone",
                    "someone", "people", "person", "guy", "guys", "folk", "folks", "friend", "friends", "wife",
                    "husband", "son", "daughter", "kid", "kids", "child", "children", "dad", "mom", "mother",
                    "father", "brother", "sister", "family", "boyfriend", "girlfriend", "gift", "christmas",
                    "birthday", "i", "me", "you", "he", "she", "it", "we", "they", "lol", "yes", "no", "not", "none",
                    "work", "works", "put", "like", "likes", "man", "woman", "lady", "sir", "buddy", "right", "left",
                    "word", "words", "mine", "try", "getting", "intent", "intents", "purpose", "purposes",
                    "category", "mostly", "really", "just", "very", "good", "great", "bad", "well", "last", "first",
                    "second", "other", "same", "new", "old", "little", "much", "many", "more", "most", "less",
                    "least", "few", "several", "whole", "overall", "end", "top", "bottom", "side", "front", "back",
                    "plenty", "number", "couple", "pair", "set", "lot", "addition", "bonus", "case", "point",
                    "experience", "idea", "opinion", "thought", "note", "mind", "sense", "chance", "money", "dollar",
                    "dollars", "buck", "bucks", "cent", "cents", "penny", "pennies", "shipping", "seller", "order",
                    "package", "packaging", "box", "return", "refund", "replacement",
                    # choosing and judging the purchase, and the words of talk and time around it
                    "choice", "option", "alternative", "decision", "investment", "upgrade", "compromise", "bet",
                    "difference", "result", "amount", "need", "requirement", "expectation", "consideration",
                    "reservation", "reliance", "tendency", "situation", "matter", "factor", "instance", "example",
                    "plus", "brainer", "must", "help", "fix", "attempt", "effort", "trial", "research", "plan",
                    "goal", "task", "step", "suggestion", "question", "answer", "comment", "concern", "wonder",
                    "guess", "whim", "incident", "while", "term", "period", "beginning", "future",
                    "today", "tonight", "night", "morning", "go"]) - {
    "case", "set", "side", "top", "bottom", "back", "front", "end"}
"""Words that are never an aspect of a product on their own: filler, opinions, the act of buying and
of choosing ("a great choice", "the difference", "a good investment"), people, talk and time. General
English only: words that name what a product is about in some category stay ("story", "advice",
"place", "change"), and so do "case", "set" and the parts of a thing ("the case", "a set of strings")."""
