# Training data for time_sequence_prediction: noisy-phase sine waves, after pytorch/examples
# time_sequence_prediction/generate_sine_wave.py
# (https://github.com/pytorch/examples/tree/main/time_sequence_prediction, BSD-3-Clause; see
# ../LICENSE-pytorch-examples). Written out anew; L and N are smaller (upstream: L = 1000, N = 100).
import numpy as np
import torch

np.random.seed(2)

T = 20
L = 100
N = 10

x = np.empty((N, L), 'int64')
x[:] = np.array(range(L)) + np.random.randint(-4 * T, 4 * T, N).reshape(N, 1)
data = np.sin(x / 1.0 / T).astype('float64')
torch.save(data, open('traindata.pt', 'wb'))
