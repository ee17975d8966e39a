"""Motion between video frames, estimated with OpenCV's Farneback optical flow, for measuring flicker.

For frames t and t+1, `estimate_motion` returns the grid that says where each pixel of frame t+1 was
in frame t (the form `metrics.flicker` takes) and a mask of the pixels whose motion can be trusted:
those where the backward flow (t+1 -> t) and the forward flow (t -> t+1) agree, the occlusion test of
Sundaram et al. 2010 that Ruder et al. 2016 use for video style transfer:

    |w_b(p) + w_f(p + w_b(p))|^2 < 0.01 (|w_b(p)|^2 + |w_f(p + w_b(p))|^2) + 0.5   (pixels)

Pixels that just came into view or were uncovered fail it and are left out of the warping error.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from .images import luminance

# Farneback parameters: pyramid scale, levels, window, iterations, polynomial size and sigma, flags.
FARNEBACK = (0.5, 4, 21, 5, 7, 1.5, 0)


def _grey_bytes(frame: torch.Tensor) -> np.ndarray:
    """[1,3,H,W] in [0, 1] -> uint8 luminance [H,W], what Farneback reads."""
    return (luminance(frame.float().cpu().clamp(0, 1))[0, 0] * 255).round().byte().numpy()


def _flow(source: np.ndarray, target: np.ndarray) -> torch.Tensor:
    """Per pixel p of `source`, the displacement [H,W,2] (x, y) to where it is found in `target`."""
    return torch.from_numpy(cv2.calcOpticalFlowFarneback(source, target, None, *FARNEBACK))


def _to_grid(flow: torch.Tensor) -> torch.Tensor:
    """Pixel displacements [H,W,2] -> F.grid_sample coordinates [1,H,W,2] (align_corners=False)."""
    height, width = flow.shape[:2]
    ys, xs = torch.meshgrid(
        torch.arange(height, dtype=torch.float32), torch.arange(width, dtype=torch.float32), indexing="ij"
    )
    x = (xs + flow[..., 0] + 0.5) / width * 2 - 1
    y = (ys + flow[..., 1] + 0.5) / height * 2 - 1
    return torch.stack([x, y], dim=-1)[None]


def estimate_motion(previous: torch.Tensor, current: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(grid [1,H,W,2], mask [1,1,H,W]) from frame `previous` to frame `current`, both [1,3,H,W] in [0, 1].

    grid(p): where pixel p of `current` was in `previous`; mask: 1 where that motion passes the
    forward-backward check (module doc), 0 where the pixel was occluded or is uncertain.
    """
    if previous.shape != current.shape or previous.dim() != 4 or previous.shape[:2] != (1, 3):
        raise ValueError(f"need two frames [1,3,H,W] of one size, got {list(previous.shape)} and {list(current.shape)}")
    before, after = _grey_bytes(previous), _grey_bytes(current)
    backward, forward = _flow(after, before), _flow(before, after)
    grid = _to_grid(backward)
    forward_there = F.grid_sample(forward.permute(2, 0, 1)[None], grid, mode="bilinear", align_corners=False)
    forward_there = forward_there[0].permute(1, 2, 0)
    mismatch = (backward + forward_there).pow(2).sum(-1)
    allowed = 0.01 * (backward.pow(2).sum(-1) + forward_there.pow(2).sum(-1)) + 0.5
    return grid, (mismatch < allowed).float()[None, None]
