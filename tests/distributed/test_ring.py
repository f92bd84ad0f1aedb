"""minigrad/distributed/ring.py: the ring all-reduce's plan, played on simulated ranks
(the real ring runs in the MPI jobs of test_collectives.py)."""
import numpy as np
import pytest

from minigrad.distributed.ring import chunk_bounds, ring_schedule

pytestmark = pytest.mark.distributed


@pytest.mark.parametrize("n", [0, 1, 5, 6, 7, 1001])
@pytest.mark.parametrize("p", [1, 2, 3, 4])
def test_chunks_cover_the_array(n, p):
    bounds = chunk_bounds(n, p)
    assert len(bounds) == p and bounds[0][0] == 0 and bounds[-1][1] == n
    assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))
    sizes = [b - a for a, b in bounds]
    assert max(sizes) - min(sizes) <= 1


@pytest.mark.parametrize("p", [2, 3, 5])
def test_ring_schedule_simulated(p):
    """Play the schedule on p simulated ranks: every rank ends with the full sum, and
    each sends 2 (p - 1) chunks."""
    n = 2 * p + 1
    bounds = chunk_bounds(n, p)
    data = [np.arange(n, dtype=np.float64) * (r + 1) for r in range(p)]
    want = sum(data)
    plans = [ring_schedule(r, p) for r in range(p)]
    assert all(len(plan) == 2 * (p - 1) for plan in plans)
    for step in range(2 * (p - 1)):
        sent = [data[r][slice(*bounds[plans[r][step][1]])].copy() for r in range(p)]
        for r in range(p):
            phase, _, recv = plans[r][step]
            left = (r - 1) % p
            assert plans[left][step][1] == recv   # the left neighbour sends what r expects
            sl = slice(*bounds[recv])
            data[r][sl] = data[r][sl] + sent[left] if phase == "reduce-scatter" else sent[left]
    for r in range(p):
        np.testing.assert_array_equal(data[r], want)
