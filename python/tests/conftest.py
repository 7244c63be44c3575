"""Shared data: two parties' tables with a known overlap and a hidden truth
column (`person`) that the protocol never sees, to check results against
the plaintext answer."""

import random

import pandas as pd
import pytest


def people(ids, seed):
    rng = random.Random(seed)
    return pd.DataFrame(
        {
            "person": list(ids),
            "email": [f" User{i}@Example.org " for i in ids],
            "phone": [f"+44 20 7946 {i:04d}" for i in ids],
            "x": [rng.random() for _ in ids],
            "n": [rng.randrange(0, 1000) for _ in ids],
        }
    )


@pytest.fixture
def frames():
    """(A, B): A holds people 0..299, B people 150..549, shuffled."""
    a_ids = list(range(0, 300))
    b_ids = list(range(150, 550))
    random.Random(1).shuffle(a_ids)
    random.Random(2).shuffle(b_ids)
    return people(a_ids, 3), people(b_ids, 4)
