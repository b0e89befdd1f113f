"""The pure domain core: models, rules, events, errors, ports and processes.

Imports nothing outside the standard library, attrs and itself (tests/unit/test_purity.py checks).
"""
