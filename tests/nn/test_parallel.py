"""minigrad/nn/parallel.py: DistributedDataParallel in real MPI jobs of 2 and 3 processes
(``mpiexec``, see tests/launch.py) against one process on the concatenated batch.
(``python -m minigrad demo --distributed``, which trains the seed CNN with it, is tested in
tests/examples/test_distributed.py.)

Skipped when mpi4py or mpiexec is missing (``pip install "minigrad[mpi]"``). A world of
one process (no MPI) is in tests/distributed/test_collectives.py.
"""
import pytest

from launch import job_tests

pytestmark = pytest.mark.distributed

DDP_CASES = ["mlp", "seed_cnn", "transformer", "no_sync_accumulation", "buffers", "unused_parameters",
             "models_differ", "fit_and_checkpoint"]

test_ddp, test_ddp_job_exits_cleanly = job_tests("ddp.py", DDP_CASES)
