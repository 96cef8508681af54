"""Pure normalisation functions: strings in, normalised values out, no I/O.

Every function here is idempotent (normalising a normalised value changes nothing) and
is table-tested in ``tests/test_normalize_*.py``.
"""
