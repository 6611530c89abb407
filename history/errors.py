"""The one error type of the history feature.

Everything that can go wrong with user input (a bad path, a clone that is not modded-nanogpt, a
malformed records.toml, objects missing from a partial clone) becomes a HistoryError with a message
meant for a person; the CLI prints it and exits 2, so nothing reaches the user as a traceback.
"""


class HistoryError(Exception):
    pass
