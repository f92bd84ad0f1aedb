"""Tuning records shipped with minigrad, one per instruction-set family.

Each is what ``python -m minigrad tune`` measured on one CPU of that family (the
``cpu`` field names it): for every benchmark size, the native and the reference
kernel's best time in seconds. The registry uses the record of the running CPU's
family until the machine has its own (see :mod:`minigrad.tuning`). Regenerate an
entry with ``python -m minigrad tune --emit`` on a CPU of that family.
"""

RECORDS = {}
