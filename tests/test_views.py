import numpy as np
import pytest

from segscan.index.simmap import chamfer_similarity
from segscan.pipeline.views import expand, pick, view_images
from segscan.query.maps import region_similarity
from segscan.types import VideoFeatures


def test_views_are_the_mirror_the_quarters_and_the_centre():
    img = np.arange(2 * 8 * 6 * 3, dtype=np.uint8).reshape(2, 8, 6, 3)
    views = dict(view_images(img, ["flip", "quarters", "centre"]))
    assert list(views) == ["flip", "quarter0", "quarter1", "quarter2", "quarter3", "centre"]
    np.testing.assert_array_equal(views["flip"], img[:, :, ::-1])
    np.testing.assert_array_equal(views["quarter0"], img[:, :4, :3])
    np.testing.assert_array_equal(views["quarter3"], img[:, 4:, 3:])
    np.testing.assert_array_equal(views["centre"], img[:, 2:6, 1:4])
    assert expand(["quarters", "flip"]) == ["quarter0", "quarter1", "quarter2", "quarter3", "flip"]
    with pytest.raises(ValueError, match="unknown query view"):
        view_images(img, ["zoom"])


def test_a_missing_view_is_an_error_not_a_silent_loss():
    f = VideoFeatures(np.arange(2.0), np.zeros((2, 4), np.float32))
    assert pick({"flip": f}, ["flip"]) == [f]
    with pytest.raises(ValueError, match="quarter0"):
        pick({"flip": f}, ["flip", "quarters"])


def test_region_similarity_keeps_the_best_view():
    rng = np.random.default_rng(0)
    unit = lambda x: (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)
    ref = VideoFeatures(np.arange(3.0), unit(rng.normal(size=(3, 8))), unit(rng.normal(size=(3, 9, 8))))
    q = VideoFeatures(np.arange(2.0), unit(rng.normal(size=(2, 8))), unit(rng.normal(size=(2, 9, 8))))
    corner = VideoFeatures(q.times, q.global_feats, ref.region_feats[[1, 2]])  # a view is the copy
    other = VideoFeatures(q.times, q.global_feats, unit(rng.normal(size=(2, 9, 8))))
    s = region_similarity(ref, q, [other, corner])
    np.testing.assert_allclose(s[[0, 1], [1, 2]], 1.0, atol=1e-5)
    best = np.max([chamfer_similarity(v.region_feats, ref.region_feats) for v in (q, other, corner)], axis=0)
    np.testing.assert_allclose(s, best, atol=1e-6)
