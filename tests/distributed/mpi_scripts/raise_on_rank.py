"""One rank raises while the others wait in a collective: the job must end at once
with that rank's message (not hang). ``python raise_on_rank.py RANK``."""
import sys
import time

import minigrad
import minigrad.distributed as dist

bad = int(sys.argv[1])
dist.init_process_group("mpi")
rank = dist.get_rank()
dist.barrier()
if rank == bad:
    time.sleep(0.2)
    raise ValueError(f"loss became NaN on purpose, on rank {rank}")
t = minigrad.ones(4)
dist.all_reduce(t)   # waits for the rank that raised: only the abort ends this
time.sleep(60)
print("not reached", flush=True)
