"""prize: the Netflix Prize, end to end."""

__version__ = "0.1.0"
