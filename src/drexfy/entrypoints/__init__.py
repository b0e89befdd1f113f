"""Entrypoints: the CLI, the HTTP service, the worker and the container that wires adapters."""
