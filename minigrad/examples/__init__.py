"""Seed systems: small, complete training runs with a known good answer.

Each is a function that builds data and a model, trains it with
:func:`minigrad.train.fit` and returns a results dict - ``name``, ``what`` (a
one-line description), ``final_loss``, ``accuracy`` (or None), ``summary`` (the
headline number as text), ``passed`` (whether it reached its target),
``seconds``, ``history`` and ``model`` - so they work from a notebook as well as
from ``python -m minigrad demo``::

    from minigrad.examples import digits_mlp
    r = digits_mlp(progress=True)
    r["accuracy"], r["history"].plot()

Every function takes ``progress`` (bool), ``seed`` and ``level`` (``"quick"``,
``"default"`` or ``"full"``: how long to train); the demo also accepts functions
with a ``quick`` flag instead of ``level``. Results without ``passed`` show "-" in
the target column and do not fail the demo.

``DEMOS`` lists what ``python -m minigrad demo`` runs, in order, as ``(name,
function)`` entries - or ``(name, function, levels)`` for one that should only run
at some levels (e.g. ``{"full"}`` for a long one). Append to it to add a system.
"""
from minigrad.examples.regression import linear_regression
from minigrad.examples.mlp import digits_mlp, mlp_regression

__all__ = ["linear_regression", "mlp_regression", "digits_mlp", "DEMOS"]

DEMOS = [
    ("linear regression", linear_regression),
    ("MLP regressor 2-10-1", mlp_regression),
    ("digits MLP", digits_mlp),
]
