"""remix: the nanoGPT speedrun as toggleable ingredients on the llm.c GPT-2 base."""

__version__ = "0.1.0"
