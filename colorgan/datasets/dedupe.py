"""Near-duplicate groups and the fixed train/val/test split of the offline photo set.

A colouriser sees only the luminance, so two files are near-duplicates when their gray
structure matches: the perceptual hash (ImageHash's DCT `phash`, 64 bits) of one is within
`THRESHOLD` bits of the other's or of its mirror image. Two copies of a photo rescaled and
re-encoded differ by 0-2 bits; the two views of a stereo pair (scikit-image's motorcycle)
by 4; the closest two different photos of the set by 12. phash does not see through crops
(a 5% crop moves it by 4-18 bits), so panels cut from one panorama are grouped explicitly
(the `group` column of the photo list).

A whole group goes to one split, chosen by a hash of the group's key (its explicit group
name, else its smallest file name): the split of a photo never changes when others are
added, and near-duplicates can never straddle train and test.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import imagehash
import numpy as np
from PIL import Image, ImageOps

THRESHOLD = 8  # bits out of 64
SPLITS = (("train", 0.70), ("val", 0.85), ("test", 1.0))  # upper edges: 70% / 15% / 15%


def phash_pair(im: Image.Image) -> tuple[imagehash.ImageHash, imagehash.ImageHash]:
    """(phash of the image, phash of its mirror image)."""
    rgb = im.convert("RGB")
    return imagehash.phash(rgb), imagehash.phash(ImageOps.mirror(rgb))


def distances(pairs: Sequence[tuple[imagehash.ImageHash, imagehash.ImageHash]]) -> np.ndarray:
    """Symmetric matrix of mirror-aware Hamming distances between the images' hashes."""
    plain = np.array([p[0].hash.flatten() for p in pairs], dtype=bool).reshape(len(pairs), -1)
    mirror = np.array([p[1].hash.flatten() for p in pairs], dtype=bool).reshape(len(pairs), -1)
    d = (plain[:, None] != plain[None]).sum(-1)
    dm = (plain[:, None] != mirror[None]).sum(-1)
    d = np.minimum(d, dm)
    return np.minimum(d, d.T)


def groups(
    names: Sequence[str], dist: np.ndarray, explicit: Sequence[str] = (), threshold: int = THRESHOLD
) -> list[list[int]]:
    """Connected components of "within threshold or same explicit group" (indices, sorted)."""
    parent = list(range(len(names)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    close = np.argwhere(np.triu(dist <= threshold, 1))
    for i, j in close.tolist():
        parent[find(i)] = find(j)
    first: dict[str, int] = {}
    for i, tag in enumerate(explicit):
        if tag:
            parent[find(i)] = find(first.setdefault(tag, i))
    comps: dict[int, list[int]] = {}
    for i in range(len(names)):
        comps.setdefault(find(i), []).append(i)
    return sorted(comps.values(), key=lambda c: min(names[i] for i in c))


def group_key(members: Sequence[int], names: Sequence[str], explicit: Sequence[str] = ()) -> str:
    tags = sorted({explicit[i] for i in members if explicit and explicit[i]})
    return tags[0] if tags else min(names[i] for i in members)


def split_for(key: str, splits=SPLITS) -> str:
    """The split a group key falls in: the first 32 bits of sha256(key) as a number in [0, 1)
    against the splits' upper edges."""
    u = int(hashlib.sha256(key.encode("utf-8")).hexdigest()[:8], 16) / 2**32
    return next((name for name, edge in splits if u < edge), splits[-1][0])


def assign_splits(
    names: Sequence[str], dist: np.ndarray, explicit: Sequence[str] = (), threshold: int = THRESHOLD
) -> dict[str, str]:
    """name -> split, every group in one split."""
    out = {}
    for members in groups(names, dist, explicit, threshold):
        split = split_for(group_key(members, names, explicit))
        out.update({names[i]: split for i in members})
    return out


def straddling(
    names: Sequence[str],
    splits: Sequence[str],
    dist: np.ndarray,
    explicit: Sequence[str] = (),
    threshold: int = THRESHOLD,
) -> list[list[str]]:
    """Groups whose members are in more than one split (each as "split/name" strings)."""
    bad = []
    for members in groups(names, dist, explicit, threshold):
        if len({splits[i] for i in members}) > 1:
            bad.append([f"{splits[i]}/{names[i]}" for i in members])
    return bad
