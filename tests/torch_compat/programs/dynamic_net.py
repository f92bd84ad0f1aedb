# "Learning PyTorch with Examples": a model whose forward pass draws its own depth (a third-, fourth- or
# fifth-order polynomial, chosen at random on every call, reusing one weight), trained with SGD and momentum
# (https://github.com/pytorch/tutorials/blob/main/beginner_source/examples_nn/dynamic_net.py, BSD-3-Clause;
# see LICENSE-pytorch-tutorials). Written out anew; 1,000 steps instead of 30,000.
import math
import random

import torch


class DynamicNet(torch.nn.Module):
    def __init__(self):
        """Five parameters, created as nn.Parameter so that the module registers them."""
        super().__init__()
        self.a = torch.nn.Parameter(torch.randn(()))
        self.b = torch.nn.Parameter(torch.randn(()))
        self.c = torch.nn.Parameter(torch.randn(()))
        self.d = torch.nn.Parameter(torch.randn(()))
        self.e = torch.nn.Parameter(torch.randn(()))

    def forward(self, x):
        """Randomly a third, fourth or fifth-order polynomial, reusing the e parameter for the terms of
        order four and five: ordinary Python control flow builds the graph anew on each call."""
        y = self.a + self.b * x + self.c * x ** 2 + self.d * x ** 3
        for exp in range(4, random.randint(4, 6)):
            y = y + self.e * x ** exp
        return y

    def string(self):
        """Like any class in Python, you can also define custom method on PyTorch modules"""
        return f'y = {self.a.item()} + {self.b.item()} x + {self.c.item()} x^2 + {self.d.item()} x^3 + ' \
               f'{self.e.item()} x^4 ? + {self.e.item()} x^5 ?'


# Create Tensors to hold input and outputs.
x = torch.linspace(-math.pi, math.pi, 2000)
y = torch.sin(x)

# Construct our model by instantiating the class defined above
model = DynamicNet()

# Training this strange model with vanilla stochastic gradient descent is tough, so we use momentum
criterion = torch.nn.MSELoss(reduction='sum')
optimizer = torch.optim.SGD(model.parameters(), lr=1e-8, momentum=0.9)
for t in range(1000):
    # Forward pass: Compute predicted y by passing x to the model
    y_pred = model(x)

    # Compute and print loss
    loss = criterion(y_pred, y)
    if t % 200 == 199:
        print(t, loss.item())

    # Zero gradients, perform a backward pass, and update the weights.
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()

print(f'Result: {model.string()}')
