"""Procedurally generated conveyor-belt images of machined parts, with and without defects.

Each image is 64x64 RGB uint8 (HWC, as a camera delivers it): a noisy belt with stripes, one part
(a disc, a plate or a ring) in a metallic tone at a random place, lit unevenly. A defective part
carries one of: a dark crack, a missing chunk, or a rust spot. Labels: 0 = ok, 1 = defect.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from reference_platform.model import IMAGE_SIZE

Grid = npt.NDArray[np.float32]
"""Pixel coordinates (yy or xx) or an image being drawn, in float32."""
Mask = npt.NDArray[np.bool_]


def _part_mask(rng: np.random.Generator, yy: Grid, xx: Grid) -> tuple[Mask, float, float, float]:
    cy, cx = rng.uniform(20, 44, size=2)
    r = rng.uniform(10, 16)
    shape = rng.integers(0, 3)
    if shape == 0:  # disc
        mask = (yy - cy) ** 2 + (xx - cx) ** 2 <= r**2
    elif shape == 1:  # plate
        mask = (np.abs(yy - cy) <= r * 0.8) & (np.abs(xx - cx) <= r)
    else:  # ring
        d2 = (yy - cy) ** 2 + (xx - cx) ** 2
        mask = (d2 <= r**2) & (d2 >= (r * 0.45) ** 2)
    return mask, float(cy), float(cx), float(r)


def _defect(
    rng: np.random.Generator,
    img: Grid,
    mask: Mask,
    cy: float,
    cx: float,
    r: float,
    yy: Grid,
    xx: Grid,
    belt: Grid,
) -> None:
    kind = rng.integers(0, 3)
    if kind == 0:  # crack: a dark thin line across the part
        angle = rng.uniform(0, np.pi)
        dist = np.abs((yy - cy) * np.cos(angle) - (xx - cx) * np.sin(angle))
        along = np.abs((yy - cy) * np.sin(angle) + (xx - cx) * np.cos(angle))
        crack = (dist <= rng.uniform(0.6, 1.3)) & (along <= r * rng.uniform(0.5, 0.9)) & mask
        img[crack] *= rng.uniform(0.15, 0.35)
    elif kind == 1:  # missing chunk: belt shows through a bite out of the edge
        a = rng.uniform(0, 2 * np.pi)
        by, bx = cy + r * np.sin(a), cx + r * np.cos(a)
        bite = ((yy - by) ** 2 + (xx - bx) ** 2 <= rng.uniform(4, 7) ** 2) & mask
        img[bite] = belt[bite]
    else:  # rust spot: a reddish-brown blotch
        sy, sx = cy + rng.uniform(-r / 2, r / 2), cx + rng.uniform(-r / 2, r / 2)
        spot = ((yy - sy) ** 2 + (xx - sx) ** 2 <= rng.uniform(2.5, 4.5) ** 2) & mask
        img[spot] = img[spot] * 0.4 + np.array([0.55, 0.25, 0.08]) * 0.6


def generate(n: int, seed: int = 0, defect_rate: float = 0.5) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    """Generate `n` images (uint8, N x 64 x 64 x 3) and labels (int64, N)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:IMAGE_SIZE, 0:IMAGE_SIZE].astype(np.float32)
    images = np.empty((n, IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)
    labels = (rng.random(n) < defect_rate).astype(np.int64)
    for i in range(n):
        tone = rng.uniform(0.15, 0.3)
        belt = np.full((IMAGE_SIZE, IMAGE_SIZE, 3), tone, dtype=np.float32)
        belt += (np.sin(xx * rng.uniform(0.3, 0.6)) * 0.03)[..., None]
        belt += rng.normal(0, 0.03, size=belt.shape).astype(np.float32)
        img = belt.copy()
        mask, cy, cx, r = _part_mask(rng, yy, xx)
        metal = np.array([0.72, 0.74, 0.78]) * rng.uniform(0.8, 1.1)
        shade = 1.0 - 0.25 * ((yy - cy) + (xx - cx)) / (2 * r)
        img[mask] = (metal[None, :] * np.clip(shade[mask], 0.6, 1.2)[:, None]).astype(np.float32)
        if labels[i]:
            _defect(rng, img, mask, cy, cx, r, yy, xx, belt)
        light = 1.0 + rng.uniform(-0.15, 0.15) * (xx / IMAGE_SIZE - 0.5)
        img = img * light[..., None] + rng.normal(0, 0.02, size=img.shape)
        images[i] = np.clip(img * 255, 0, 255).astype(np.uint8)
    return images, labels
