import numpy as np

from segscan.bench.distractors import (KEYFRAMES_PER_VIDEO, OFFSET, DistractorDB, distractor_ids, synth_video,
                                      synth_videos)
from segscan.index.vectors import make_index


class _Empty:
    def search(self, q, k):
        return [(np.zeros(0, np.float32), np.zeros(0, np.int64), np.zeros(0, np.int64)) for _ in q]


def test_distractor_regions_are_remade_identically_and_match_the_indexed_globals():
    rng = np.random.default_rng(0)
    base = rng.normal(size=(20, 9, 32)).astype(np.float32)
    base /= np.linalg.norm(base, axis=-1, keepdims=True)
    n = 2 * KEYFRAMES_PER_VIDEO + 7  # the last video is cut short
    vecs = synth_videos(base, n, seed=3)
    # made in two blocks, the vectors are the same
    np.testing.assert_array_equal(np.concatenate([synth_videos(base, KEYFRAMES_PER_VIDEO, seed=3),
                                                  synth_videos(base, n, seed=3, start=KEYFRAMES_PER_VIDEO)]), vecs)
    index = make_index("flat", 32)
    index.add(distractor_ids(0, n), vecs)
    db = DistractorDB(_Empty(), index, n, base, seed=3)
    for v in range(3):
        f = db.features_by_num(OFFSET + v)
        lo = v * KEYFRAMES_PER_VIDEO
        assert len(f) == min(KEYFRAMES_PER_VIDEO, n - lo)
        rec = db.video_by_num(OFFSET + v)  # what the query path reads of a candidate's record
        assert len(rec.times) == len(f) and rec.duration == len(f)
        np.testing.assert_allclose(f.global_feats, vecs[lo:lo + len(f)], atol=1e-6)
        # the global vector is the normalised sum of the regions, as the extractor makes it
        g = f.region_feats.astype(np.float32).sum(1)
        np.testing.assert_allclose(g / np.linalg.norm(g, axis=1, keepdims=True), f.global_feats, atol=2e-3)
        np.testing.assert_array_equal(f.region_feats, db.features_by_num(OFFSET + v).region_feats)
    # three shots: keyframes within a shot are alike, across a cut they are not; videos differ
    g0, _ = synth_video(base, 0, seed=3)
    g1, _ = synth_video(base, 1, seed=3)
    consecutive = (g0[:-1] * g0[1:]).sum(1)
    cuts = np.array([KEYFRAMES_PER_VIDEO // 3 - 1, 2 * KEYFRAMES_PER_VIDEO // 3 - 1])
    within = np.delete(consecutive, cuts)
    assert within.min() > 0.8 and consecutive[cuts].max() < within.min()
    assert not np.allclose(g0, g1)
    # a search finds a distractor keyframe as its own nearest neighbour
    s, nums, kf = db.search(vecs[[65]], 1)[0]
    assert nums[0] == OFFSET + 1 and kf[0] == 5


def test_distractor_photos_are_never_query_filler():
    from pathlib import Path

    from segscan.bench.generate import photo_roles

    photos = [Path(f"p{i}.jpg") for i in range(11)]
    gallery, filler = photo_roles(photos, np.random.default_rng(5))
    again, _ = photo_roles(photos, np.random.default_rng(5))
    assert gallery == again and not set(gallery) & set(filler) and len(gallery) + len(filler) == 11
