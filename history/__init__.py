"""The speedrun's record history: records.toml as data (data.py), a reader of a modded-nanogpt clone
(repo.py, the only module that imports gitpython), the check of one against the other (check.py),
record scripts and their diffs (scripts.py, show.py), and the `remix history` commands (cli.py)."""
