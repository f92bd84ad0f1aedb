# "Learning PyTorch with Examples": fit y = sin(x) with a third-order polynomial written as nn.Sequential
# (Linear + Flatten), an MSE loss summed over points and a hand-written gradient step over
# model.parameters() (https://github.com/pytorch/tutorials/blob/main/beginner_source/examples_nn/polynomial_nn.py,
# BSD-3-Clause; see LICENSE-pytorch-tutorials). Written out anew; same model, data, loop and update.
import math

import torch

# Create Tensors to hold input and outputs.
x = torch.linspace(-math.pi, math.pi, 2000)
y = torch.sin(x)

# The output y is a linear function of (x, x^2, x^3): a linear layer of three inputs.
p = torch.tensor([1, 2, 3])
xx = x.unsqueeze(-1).pow(p)

# Linear computes the output from the input with a linear function and holds its weight and bias;
# Flatten turns the output of the linear layer into a 1D tensor to match the shape of `y`.
model = torch.nn.Sequential(
    torch.nn.Linear(3, 1),
    torch.nn.Flatten(0, 1)
)

loss_fn = torch.nn.MSELoss(reduction='sum')

learning_rate = 1e-6
for t in range(2000):
    # Forward pass: compute predicted y by passing x to the model.
    y_pred = model(xx)

    # Compute and print loss.
    loss = loss_fn(y_pred, y)
    if t % 100 == 99:
        print(t, loss.item())

    # Zero the gradients before running the backward pass.
    model.zero_grad()

    # Backward pass: gradients of the loss with respect to all learnable parameters of the model.
    loss.backward()

    # Update the weights using gradient descent. Each parameter is a Tensor, so we can access its
    # gradients like we did before.
    with torch.no_grad():
        for param in model.parameters():
            param -= learning_rate * param.grad

# You can access the first layer of `model` like accessing the first item of a list
linear_layer = model[0]

# For linear layer, its parameters are stored as `weight` and `bias`.
print(f'Result: y = {linear_layer.bias.item()} + {linear_layer.weight[:, 0].item()} x + '
      f'{linear_layer.weight[:, 1].item()} x^2 + {linear_layer.weight[:, 2].item()} x^3')
