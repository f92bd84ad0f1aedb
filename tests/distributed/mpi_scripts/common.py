"""Shared by the MPI test scripts: report cases so the test can check each one.

A case is a function; ``run_cases`` runs them in order on every rank and prints
``PASS <rank> <name>;`` (the semicolon ends the name: the ranks' output reaches the
test through separate pipes, and one rank's line may be glued to another's text). A failing assertion is caught, printed as ``FAIL <rank>
<name>: <message>``, and the script goes on (the collectives inside a case are
symmetric, so the ranks stay in step); the exit status is 1 if any case failed.
"""
import sys
import traceback


def run_cases(cases, rank):
    failed = 0
    for name, fn in cases:
        try:
            fn()
        except AssertionError as e:
            failed += 1
            print(f"FAIL {rank} {name}: {e}\n{traceback.format_exc()}", flush=True)
            continue
        print(f"PASS {rank} {name};", flush=True)
    sys.stdout.flush()
    return 1 if failed else 0
