import pytest
import torch

# The tests run small tensors: one thread avoids oversubscription (a second busy process on
# a 2-core machine makes multi-threaded tiny ops 10-50x slower).
torch.set_num_threads(1)


@pytest.fixture
def generator():
    """A seeded torch.Generator (tests never touch the global seed)."""
    return torch.Generator().manual_seed(1234)
