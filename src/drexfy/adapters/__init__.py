"""Adapters: one sub-package per technology, each implementing ports of `drexfy.domain.ports`."""
