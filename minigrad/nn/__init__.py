"""``minigrad.nn``: modules, layers, losses, initialisation - mirroring ``torch.nn``.

>>> from minigrad import nn
>>> import minigrad.nn.functional as F
>>> model = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
>>> loss = nn.CrossEntropyLoss()(model(x), y)

Names, parameter shapes and layouts, default arguments and initialisation follow
PyTorch, so a state_dict moves between the two through NumPy arrays.
"""
from minigrad.nn.parameter import Parameter
from minigrad.nn.module import Module, RemovableHandle
from minigrad.nn.containers import Sequential, ModuleList, ModuleDict, ParameterList, ParameterDict
from minigrad.nn.linear import Identity, Linear, Bilinear, Flatten, Unflatten
from minigrad.nn.activation import (ReLU, ReLU6, Hardtanh, Sigmoid, Tanh, GELU, SiLU, LeakyReLU, ELU, Softplus,
                                    LogSigmoid, Softmax, LogSoftmax, Softmin, Mish, Hardswish, Hardsigmoid,
                                    PReLU)
from minigrad.nn.dropout import Dropout
from minigrad.nn.normalization import BatchNorm1d, BatchNorm2d, LayerNorm, GroupNorm, RMSNorm
from minigrad.nn.loss import (MSELoss, L1Loss, HuberLoss, SmoothL1Loss, CrossEntropyLoss, NLLLoss, BCELoss,
                              BCEWithLogitsLoss, KLDivLoss, TripletMarginLoss)
from minigrad.nn import functional, init, utils
from minigrad import _checks as _checks

_checks.name_errors_in(vars(functional))  # every F.<op> names itself in its errors
from minigrad.nn import parallel
from minigrad.nn.parallel import DistributedDataParallel
from minigrad.nn.summary import summary

from minigrad.nn.conv import Conv1d, Conv2d, ConvTranspose2d
from minigrad.nn.pooling import MaxPool1d, MaxPool2d, AvgPool1d, AvgPool2d, AdaptiveAvgPool2d
from minigrad.nn.spatial import Dropout2d, Upsample, PixelShuffle, PixelUnshuffle
from minigrad.nn.rnn import RNNCellBase, RNNCell, LSTMCell, GRUCell, RNNBase, RNN, LSTM, GRU
from minigrad.nn.sparse import Embedding, EmbeddingBag
from minigrad.nn.attention import MultiheadAttention
from minigrad.nn.transformer import (TransformerEncoderLayer, TransformerDecoderLayer, TransformerEncoder,
                                     TransformerDecoder, Transformer, PositionalEncoding,
                                     LearnedPositionalEncoding)
from minigrad.nn.distance import CosineSimilarity, PairwiseDistance

__all__ = [
    "Parameter", "Module", "RemovableHandle",
    "Sequential", "ModuleList", "ModuleDict", "ParameterList", "ParameterDict",
    "Identity", "Linear", "Bilinear", "Flatten", "Unflatten",
    "ReLU", "ReLU6", "Hardtanh", "Sigmoid", "Tanh", "GELU", "SiLU", "LeakyReLU", "ELU", "Softplus", "LogSigmoid",
    "Softmax", "LogSoftmax", "Softmin", "Mish", "Hardswish", "Hardsigmoid", "PReLU",
    "Dropout", "BatchNorm1d", "BatchNorm2d", "LayerNorm", "GroupNorm", "RMSNorm",
    "MSELoss", "L1Loss", "HuberLoss", "SmoothL1Loss", "CrossEntropyLoss", "NLLLoss", "BCELoss",
    "BCEWithLogitsLoss", "KLDivLoss", "TripletMarginLoss",
    "functional", "init", "utils", "summary", "parallel", "DistributedDataParallel",
    "Conv1d", "Conv2d", "ConvTranspose2d",
    "MaxPool1d", "MaxPool2d", "AvgPool1d", "AvgPool2d", "AdaptiveAvgPool2d",
    "Dropout2d", "Upsample", "PixelShuffle", "PixelUnshuffle",
    "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell", "RNNBase", "RNN", "LSTM", "GRU",
    "Embedding", "EmbeddingBag", "MultiheadAttention",
    "TransformerEncoderLayer", "TransformerDecoderLayer", "TransformerEncoder", "TransformerDecoder",
    "Transformer", "PositionalEncoding", "LearnedPositionalEncoding",
    "CosineSimilarity", "PairwiseDistance",
]
