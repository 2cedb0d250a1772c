"""The error family reason4rec raises for problems a user can fix.

The CLI prints these as one clear message (no stack trace) and exits with status 2; anything else
is a bug and keeps its traceback.
"""


class Reason4RecError(Exception):
    """Base of every user-facing error: bad input, missing files, unusable models or stores."""
