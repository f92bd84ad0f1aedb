"""A check shared by the tests of the seed systems: the results dict every one returns."""


def check_result_dict(r):
    for key in ("name", "what", "final_loss", "accuracy", "summary", "passed", "seconds", "history", "model"):
        assert key in r, key
    assert r["seconds"] > 0 and r["final_loss"] == r["history"]["loss"][-1]
