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
from minigrad.examples.cnn import digits_cnn, mnist_cnn
from minigrad.examples.sequence import train_gru, train_lstm, train_parity
from minigrad.examples import transformer, charlm
from minigrad.examples.compression import digits_mlp_compression

__all__ = ["linear_regression", "mlp_regression", "digits_mlp", "mnist_cnn", "digits_cnn", "train_lstm", "train_gru",
           "train_parity", "transformer", "charlm", "digits_mlp_compression", "DEMOS"]


def _quick_unless_full(fn):
    """The recurrent and attention systems train their short version by default
    (the demo must stay under 3 minutes on 2 cores) and the long one with --full."""
    def run(progress=False, seed=0, level="default"):
        return fn(quick=level != "full", progress=progress, seed=seed)
    run.__name__ = fn.__name__
    run.__doc__ = fn.__doc__
    return run

DEMOS = [
    ("linear regression", linear_regression),
    ("MLP regressor 2-10-1", mlp_regression),
    ("digits MLP", digits_mlp),
    ("seed CNN", mnist_cnn),
    ("digits LSTM (row by row)", _quick_unless_full(train_lstm)),
    ("digits GRU (row by row)", _quick_unless_full(train_gru)),
    ("Transformer seq2seq", _quick_unless_full(transformer.run)),
    ("char language model", _quick_unless_full(charlm.run)),
    ("compressed digits MLP", digits_mlp_compression),
]
