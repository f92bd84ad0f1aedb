"""Sequential, ModuleList, ModuleDict, ParameterList, ParameterDict."""
from collections import OrderedDict

import numpy as np
import pytest

import minigrad
from minigrad import nn


def test_sequential_forward_index_slice_len_append():
    a, b, c = nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)
    seq = nn.Sequential(a, b, c)
    x = minigrad.randn(5, 3)
    np.testing.assert_allclose(seq(x).numpy(), c(b(a(x))).numpy())
    assert len(seq) == 3 and seq[0] is a and seq[-1] is c
    head = seq[:2]
    assert isinstance(head, nn.Sequential) and list(head) == [a, b] and head[0] is a
    np.testing.assert_allclose(head(x).numpy(), b(a(x)).numpy())
    with pytest.raises(IndexError, match="out of range"):
        seq[3]
    with pytest.raises(TypeError, match="integers or slices"):
        seq["0"]
    d = nn.Dropout()
    assert seq.append(d) is seq and seq[3] is d and list(seq.state_dict())[-1] == "2.bias"
    del seq[1]
    assert [n for n, _ in seq.named_children()] == ["0", "1", "2"] and seq[1] is c
    seq.insert(1, b)
    assert list(seq) == [a, b, c, d]
    seq[3] = nn.Tanh()
    assert isinstance(seq[3], nn.Tanh)
    assert len(seq + nn.Sequential(nn.ReLU())) == 5


def test_sequential_from_ordered_dict_keeps_names():
    seq = nn.Sequential(OrderedDict([("fc", nn.Linear(2, 2)), ("act", nn.ReLU())]))
    assert list(seq.state_dict()) == ["fc.weight", "fc.bias"]
    assert seq.fc is seq[0]
    assert list(seq[1:]._modules) == ["act"]


def test_module_list():
    layers = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    assert len(layers) == 3 and len(list(layers.parameters())) == 6
    layers.append(nn.ReLU())
    layers.extend([nn.Tanh()])
    layers += [nn.Sigmoid()]
    assert len(layers) == 6 and isinstance(layers[-1], nn.Sigmoid)
    assert isinstance(layers[1:3], nn.ModuleList) and len(layers[1:3]) == 2
    layers.insert(0, nn.Identity())
    assert isinstance(layers[0], nn.Identity) and list(layers._modules) == [str(i) for i in range(7)]
    del layers[0]
    assert isinstance(layers[0], nn.Linear)
    with pytest.raises(TypeError, match="single"):
        layers.extend(nn.Linear(1, 1))
    with pytest.raises(NotImplementedError):
        layers(minigrad.zeros(1))
    assert repr(nn.ModuleList()) == "ModuleList()"
    assert "(0-2): 3 x Linear(in_features=2, out_features=2, bias=True)" in repr(layers)


def test_module_dict():
    d = nn.ModuleDict({"enc": nn.Linear(2, 3), "dec": nn.Linear(3, 2)})
    assert list(d.keys()) == ["enc", "dec"] and "enc" in d and len(d) == 2
    assert [n for n, _ in d.named_parameters()] == ["enc.weight", "enc.bias", "dec.weight", "dec.bias"]
    d["act"] = nn.ReLU()
    assert list(d) == ["enc", "dec", "act"]
    assert isinstance(d.pop("act"), nn.ReLU) and "act" not in d
    with pytest.raises(KeyError, match="no key 'zzz'"):
        d["zzz"]
    d.update([("x", nn.Tanh())])
    assert isinstance(dict(d.items())["x"], nn.Tanh)
    d.clear()
    assert len(d) == 0


def test_parameter_list_and_dict():
    pl = nn.ParameterList([nn.Parameter(minigrad.zeros(2)), minigrad.ones(3)])
    assert len(pl) == 2 and isinstance(pl[1], nn.Parameter)
    assert [n for n, _ in pl.named_parameters()] == ["0", "1"]
    pl.append(minigrad.zeros(1))
    assert len(list(pl.parameters())) == 3
    assert "(1): Parameter containing: [minigrad.float32 of size 3]" in repr(pl)
    with pytest.raises(TypeError):
        pl.append(3.0)
    pd = nn.ParameterDict({"a": minigrad.zeros(2)})
    pd["b"] = nn.Parameter(minigrad.ones(1))
    assert list(pd.keys()) == ["a", "b"] and isinstance(pd["a"], nn.Parameter)
    assert [n for n, _ in pd.named_parameters()] == ["a", "b"]
