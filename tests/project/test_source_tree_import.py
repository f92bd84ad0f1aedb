"""Running from a source checkout: ``pip install . && python -m minigrad demo`` in the
repository's root finds the ``minigrad/`` folder before the installed package, and the
kernels live in the top-level ``kernels/`` folder; minigrad/__init__.py then registers
that folder as ``minigrad.kernels``. Checked in a subprocess with every import hook of
an installed (editable or not) minigrad taken away."""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SCRIPT = r"""
import sys
root = sys.argv[1]
# forget any installed minigrad: drop editable-install finders, put the checkout first
sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in type(f).__module__.lower()
                    and "minigrad" not in repr(f).lower()]
sys.path[:] = [root] + [p for p in sys.path if "site-packages" in p or "lib/python" in p]
import minigrad, minigrad.kernels, minigrad.kernels.cpu
import os
assert os.path.samefile(os.path.dirname(minigrad.kernels.__file__), os.path.join(root, "kernels")), minigrad.kernels.__file__
x = minigrad.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
(x @ x).sum().backward()          # d/dX sum(X X) = 1 X^T + X^T 1
print("ok", x.grad.tolist())
"""


def test_kernels_found_next_to_the_package_in_a_checkout():
    r = subprocess.run([sys.executable, "-c", SCRIPT, ROOT], capture_output=True, text=True, timeout=300,
                       cwd=ROOT)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.strip().startswith("ok [[7.0, 11.0], [9.0, 13.0]]"), r.stdout
