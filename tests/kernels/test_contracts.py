"""Every kernel of the registry, called directly with arguments its ops never pass.

Native kernels are compiled without bounds checks, so a wrong index or shape that got
through would read or write outside an array, and might kill the interpreter. The
cases therefore run in a child process: a crash there fails the test (naming the last
case that started) instead of ending the test run. Each case must raise ValueError,
TypeError or IndexError whose message names the kernel.
"""
import json
import os
import subprocess
import sys
import textwrap

import pytest

# (kernel name, Python expression of its arguments). ``np`` is NumPy; f/i build arrays.
CASES = [
    # class targets out of range, negative, too few / too many
    ("cross_entropy_forward", "f(4, 3), i([0, 1, 2, 3])"),
    ("cross_entropy_forward", "f(4, 3), i([0, 1, 2, -5])"),
    ("cross_entropy_forward", "f(4, 3), i([0, 1, 2, 10**9])"),
    ("embedding_backward", "f(2, 3), i([0, 10**9]), 5"),
    ("cross_entropy_forward", "f(4, 3), i([0, 1])"),
    ("cross_entropy_forward", "f(4, 3), i([0, 1, 2, 0]), f(2)"),
    ("cross_entropy_forward", "f(4, 3), f(4, 2)"),
    ("cross_entropy_backward", "f(4), f(4, 3), i([0, 1, 2, 7]), None, -100, 0.0, f(4).astype(np.float64)"),
    ("cross_entropy_backward", "f(4), f(4, 3), i([0, 1, 2, 1]), None, -100, 0.0, f(2).astype(np.float64)"),
    ("cross_entropy_backward", "f(9), f(4, 3), i([0, 1, 2, 1]), None, -100, 0.0, f(4).astype(np.float64)"),
    # softmax backward with mismatched shapes (would read past the end of the shorter)
    ("softmax_backward", "f(2, 3), f(4, 5)"),
    ("log_softmax_backward", "f(2, 3), f(2, 7)"),
    ("softmax_backward", "f(100, 3), f(2, 3)"),
    # pooling: an index past the end of its plane, mismatched shapes
    ("max_pool2d_backward", "f(1, 1, 2, 2), i([[[[0, 1], [2, 99]]]]), (1, 1, 4, 4)"),
    ("max_pool2d_backward", "f(1, 1, 2, 2), i([[[[0, 1], [2, -7]]]]), (1, 1, 4, 4)"),
    ("max_pool2d_backward", "f(1, 1, 2, 2), i([[[[0, 1], [2, 10**9]]]]), (1, 1, 4, 4)"),  # segfaulted unchecked
    ("max_pool2d_backward", "f(1, 1, 2, 2), i([[[[0, 1]]]]), (1, 1, 4, 4)"),
    ("max_pool2d_backward", "f(3, 1, 2, 2), np.zeros((3, 1, 2, 2), np.int64), (1, 1, 4, 4)"),
    ("max_pool2d_backward", "f(1, 1, 2, 2), f(1, 1, 2, 2), (1, 1, 4, 4)"),
    ("max_pool2d_forward", "f(1, 1, 4, 4), (0, 2), (1, 1), (0, 0), (1, 1), False"),
    ("max_pool2d_forward", "f(1, 1, 4, 4), (2, 2), (0, 1), (0, 0), (1, 1), False"),
    ("max_pool2d_forward", "f(1, 1, 4, 4), (2, 2), (1, 1), (2, 2), (1, 1), False"),
    ("max_pool2d_forward", "f(4, 4), (2, 2), (1, 1), (0, 0), (1, 1), False"),
    ("avg_pool2d_forward", "f(1, 1, 4, 4), (2, 2), (0, 0), (0, 0), False, True"),
    ("avg_pool2d_backward", "f(1, 1, 9, 9), (1, 1, 4, 4), (2, 2), (2, 2), (0, 0), False, True"),
    # embedding: indices outside the table, a gradient with more rows than indices
    ("embedding_forward", "f(5, 3), i([0, 5])"),
    ("embedding_forward", "f(5, 3), i([-6])"),
    ("embedding_forward", "f(5, 3), f(2)"),
    ("embedding_backward", "f(9, 3), i([0, 1]), 5"),
    ("embedding_backward", "f(2, 3), i([0, 7]), 5"),
    ("embedding_backward", "f(2, 3), i([0, 1]), 5, 99"),
    # attention: a short lse, out/gout of the wrong shape, mismatched q/k/v, a bad mask
    ("sdpa_backward", "f(1, 1, 4, 8), f(1, 1, 4, 8), f(1, 1, 6, 8), f(1, 1, 6, 8), f(1, 1, 4, 8), f(1, 1, 2)"),
    ("sdpa_backward", "f(1, 1, 2, 8), f(1, 1, 4, 8), f(1, 1, 6, 8), f(1, 1, 6, 8), f(1, 1, 4, 8), f(1, 1, 4)"),
    ("sdpa_backward", "f(1, 1, 4, 8), f(1, 1, 4, 8), f(1, 1, 6, 8), f(1, 1, 6, 8), f(1, 1, 9, 8), f(1, 1, 4)"),
    ("sdpa_forward", "f(1, 1, 4, 8), f(1, 1, 6, 5), f(1, 1, 6, 8)"),
    ("sdpa_forward", "f(1, 1, 4, 8), f(1, 1, 6, 8), f(1, 1, 5, 8)"),
    ("sdpa_forward", "f(1, 1, 4, 8), f(1, 1, 6, 8), f(1, 1, 6, 8), f(3, 5)"),
    ("sdpa_forward", "f(4, 8), f(6, 8), f(6, 8)"),
    # layer norm: parameters and statistics of the wrong size
    ("layer_norm_forward", "f(4, 5), f(3), None, 1e-5"),
    ("layer_norm_forward", "f(4, 5), None, f(7), 1e-5"),
    ("layer_norm_backward", "f(4, 5), f(4, 5), None, f(2), f(4)"),
    ("layer_norm_backward", "f(4, 5), f(4, 5), None, f(4), f(1)"),
    ("layer_norm_backward", "f(4, 6), f(4, 5), None, f(4), f(4)"),
    ("layer_norm_backward", "f(4, 5), f(4, 5), f(9), f(4), f(4)"),
    # convolution: shapes that do not fit, impossible geometry
    ("conv2d_forward", "f(1, 3, 5, 5), f(4, 2, 3, 3), None, (1, 1), (0, 0), (1, 1), 1"),
    ("conv2d_forward", "f(1, 3, 5, 5), f(4, 3, 3, 3), f(5), (1, 1), (0, 0), (1, 1), 1"),
    ("conv2d_forward", "f(1, 3, 5, 5), f(4, 3, 0, 3), None, (1, 1), (0, 0), (1, 1), 1"),
    ("conv2d_forward", "f(1, 3, 5, 5), f(4, 3, 3, 3), None, (0, 1), (0, 0), (1, 1), 1"),
    ("conv2d_forward", "f(1, 3, 2, 2), f(4, 3, 3, 3), None, (1, 1), (0, 0), (1, 1), 1"),
    ("conv2d_forward", "f(1, 3, 5, 5), f(4, 3, 3, 3), None, (1, 1), (-1, 0), (1, 1), 1"),
    ("conv2d_grad_input", "f(1, 4, 9, 9), f(4, 3, 3, 3), (1, 3, 5, 5), (1, 1), (0, 0), (1, 1), 1"),
    ("conv2d_grad_weight", "f(2, 4, 3, 3), f(1, 3, 5, 5), (4, 3, 3, 3), (1, 1), (0, 0), (1, 1), 1"),
    ("conv2d_grad_bias", "f(4, 3)"),
    ("fold", "f(1, 9, 5), (4, 4), (3, 3), (1, 1), (0, 0), (1, 1)"),
    ("fold", "f(1, 10, 4), (4, 4), (3, 3), (1, 1), (0, 0), (1, 1)"),
    ("unfold", "f(1, 1, 2, 2), (3, 3), (1, 1), (0, 0), (1, 1)"),
    ("unfold", "f(1, 1, 4, 4), (3, 3), (0, 1), (0, 0), (1, 1)"),
    # int8 kernels
    ("qmatmul_int8", "np.zeros((2, 3), np.int8), np.zeros((4, 5), np.int8)"),
    ("qconv2d_int8", "np.zeros((1, 3, 5, 5), np.int8), np.zeros((4, 2, 3, 3), np.int8), 0, (1, 1), (0, 0), (1, 1), 1"),
    # matmul and gelu
    ("matmul", "f(2, 3), f(4, 5)"),
    ("matmul", "f(2, 3, 4), f(2, 5, 6)"),
    ("gelu_backward", "f(2, 3), f(4, 3)"),
    ("gelu", "f(2, 3), 'fast'"),
]

_CHILD = textwrap.dedent(r"""
    import json, sys
    import numpy as np
    import minigrad
    from minigrad import backend

    def f(*shape):
        return np.random.default_rng(0).standard_normal(shape).astype(np.float32)

    def i(values):
        return np.asarray(values, dtype=np.int64)

    mode = sys.argv[1]
    cases = json.loads(sys.argv[2])
    for n, (name, args) in enumerate(cases):
        print(json.dumps(["start", n]), flush=True)
        with minigrad.kernels.use(mode):
            kernel = backend.get_kernel(name)
        try:
            kernel(*eval("(" + args + ",)"))
            print(json.dumps(["returned", n, ""]), flush=True)
        except Exception as e:
            print(json.dumps(["raised", n, type(e).__name__, str(e)]), flush=True)
""")


@pytest.mark.parametrize("mode", ["native", "reference"])
def test_every_kernel_checks_its_arguments_without_crashing(mode, tmp_path):
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run([sys.executable, "-c", _CHILD, mode, json.dumps(CASES)], capture_output=True,
                          text=True, timeout=600, env=env, cwd=str(tmp_path))
    results = {}
    started = None
    for line in proc.stdout.splitlines():
        rec = json.loads(line)
        if rec[0] == "start":
            started = rec[1]
        else:
            results[rec[1]] = rec[2:]
    if proc.returncode != 0:
        case = CASES[started] if started is not None else None
        pytest.fail(f"the {mode} kernels' child process died (exit {proc.returncode}) during case {case}:\n"
                    f"{proc.stderr[-3000:]}")
    problems = []
    for n, (name, args) in enumerate(CASES):
        rec = results.get(n)
        if rec is None:
            problems.append(f"{name}({args}): no result")
        elif rec[0] == "returned":
            problems.append(f"{name}({args}): returned instead of raising")
        elif rec[0] not in ("ValueError", "TypeError", "IndexError"):
            problems.append(f"{name}({args}): raised {rec[0]}: {rec[1]}")
        elif name not in rec[1] and name.split("_")[0] not in rec[1]:
            problems.append(f"{name}({args}): message does not name the kernel: {rec[1]}")
    assert not problems, "\n".join(problems)
