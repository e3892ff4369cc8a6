import pytest
import torch


@pytest.fixture
def generator():
    """A seeded torch.Generator (tests never touch the global seed)."""
    return torch.Generator().manual_seed(1234)
