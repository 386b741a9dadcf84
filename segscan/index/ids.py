"""Vector ids: one int64 per keyframe, packing the video number and the keyframe index.

``id = video_num << KF_BITS | keyframe_index``: no lookup table is needed to map a
neighbour back to its video, and all ids of a video form one contiguous range.
"""
import numpy as np

KF_BITS = 20
MAX_KEYFRAMES = 1 << KF_BITS  # per video: 291 hours at 1 keyframe per second
_MASK = MAX_KEYFRAMES - 1


def make_ids(video_num: int, n: int) -> np.ndarray:
    if n > MAX_KEYFRAMES:
        raise ValueError(f"a video may have at most {MAX_KEYFRAMES} keyframes, got {n}")
    if video_num < 0 or video_num >= (1 << (63 - KF_BITS)):
        raise ValueError(f"video number {video_num} out of range")
    return (np.int64(video_num) << KF_BITS) | np.arange(n, dtype=np.int64)


def split_ids(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ids = np.asarray(ids, dtype=np.int64)
    return ids >> KF_BITS, ids & _MASK
