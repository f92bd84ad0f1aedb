"""Optimizers and learning-rate schedulers, with PyTorch's update rules and names.

An optimizer updates parameters in place from their ``.grad``::

    opt = minigrad.optim.AdamW(model.parameters(), lr=1e-3)
    for x, y in loader:
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()

Each file holds one algorithm with its update rule written out in the docstring:
``sgd.py`` (SGD, momentum, Nesterov), ``adagrad.py``, ``rmsprop.py``, ``adam.py``
(Adam, AdamW), ``adamax.py``, ``nadam.py``, ``radam.py``, ``adadelta.py`` and
``lbfgs.py`` (L-BFGS, which calls a closure several times per step);
``optimizer.py`` has what they share (parameter groups, state, ``state_dict``, the
loop over parameters, ``maximize`` and weight decay, the checks of the options) and
``_moments.py`` the running averages of the adaptive ones;
``lr_scheduler.py`` the schedulers.
"""
from minigrad.optim.optimizer import Optimizer
from minigrad.optim.sgd import SGD
from minigrad.optim.adam import Adam, AdamW
from minigrad.optim.adagrad import Adagrad
from minigrad.optim.rmsprop import RMSprop
from minigrad.optim.adadelta import Adadelta
from minigrad.optim.adamax import Adamax
from minigrad.optim.nadam import NAdam
from minigrad.optim.radam import RAdam
from minigrad.optim.lbfgs import LBFGS
from minigrad.optim import lr_scheduler

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "Adagrad", "RMSprop", "Adadelta", "Adamax",
           "NAdam", "RAdam", "LBFGS", "lr_scheduler"]
