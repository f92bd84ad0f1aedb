"""Run a small script with ``python -m minigrad run`` in a fresh subprocess: the helper of
the torch_compat tests. A fresh process each time, because PyTorch itself may already be
imported in the test process (other tests use it as an oracle), and then
``torch_compat.install()`` refuses."""
import os
import subprocess
import sys
import textwrap

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _run_script(tmp_path, source, *args, name="script.py"):
    folder = tmp_path / "prog"
    folder.mkdir(exist_ok=True)
    script = folder / name
    script.write_text(textwrap.dedent(source))
    env = dict(os.environ, PYTHONPATH=ROOT)
    return subprocess.run([sys.executable, "-m", "minigrad", "run", str(script), *args], cwd=str(tmp_path),
                          env=env, capture_output=True, text=True, timeout=120)
