"""Drexfy: the backend of a regulated platform selling securitized SME credit as tokens."""

__version__ = "0.1.0"
