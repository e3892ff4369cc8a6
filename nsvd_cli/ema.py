"""The exponential moving average of the parameters used for evaluation, without host-device copies."""

from __future__ import annotations

import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

__all__ = ["DeviceEMA"]


class DeviceEMA(AveragedModel):
    """:class:`~torch.optim.swa_utils.AveragedModel` with the EMA update (``decay``,
    buffers averaged too) whose update never copies between host and device.

    torch's ``update_parameters`` moves its CPU counter ``n_averaged`` to the device at every
    call (a host synchronisation per step on a GPU); here the counter stays a CPU tensor and
    its "first update copies" test reads a Python mirror. Same arithmetic (``torch._foreach_lerp_``),
    same ``state_dict``.
    """

    def __init__(self, model: torch.nn.Module, decay: float):
        super().__init__(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)
        self._count = 0

    def load_state_dict(self, state_dict, *args, **kwargs):
        out = super().load_state_dict(state_dict, *args, **kwargs)
        self._count = int(self.n_averaged)  # a CPU tensor
        return out

    @torch.no_grad()
    def update_parameters(self, model: torch.nn.Module) -> None:
        ema = [t.detach() for t in (*self.module.parameters(), *self.module.buffers())]
        new = [t.detach() for t in (*model.parameters(), *model.buffers())]
        if self._count == 0:
            for a, b in zip(ema, new):
                a.copy_(b)
        else:
            groups: dict = {}
            for a, b in zip(ema, new):
                pair = groups.setdefault((a.device, a.dtype), ([], []))
                pair[0].append(a)
                pair[1].append(b)
            for mine, theirs in groups.values():
                self.multi_avg_fn(mine, theirs, None)
        self.n_averaged += 1
        self._count += 1
