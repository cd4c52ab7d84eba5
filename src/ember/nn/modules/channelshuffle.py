"""ChannelShuffle (torch.nn.modules.channelshuffle)."""

from __future__ import annotations

from ember.nn import functional as F
from ember.nn.modules.module import Module


class ChannelShuffle(Module):
    """Same as torch.nn.ChannelShuffle: interleaves the channels of `groups` groups."""

    def __init__(self, groups):
        super().__init__()
        self.groups = groups

    def forward(self, input):
        return F.channel_shuffle(input, self.groups)

    def extra_repr(self):
        return f"groups={self.groups}"


__all__ = ["ChannelShuffle"]
