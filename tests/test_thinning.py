"""The thinning oracle's parts (segscan.bench.thinning): which seconds each rule drops, and the
thinned map as the query path resamples a selector's keyframes."""
import numpy as np
import pytest

from segscan.bench.thinning import drop_plan, main, neighbour_similarity, thinned
from segscan.types import CandidateMap, SimilarityMap


@pytest.mark.parametrize("rule", ["even", "random0", "random5", "redundant-regions"])
@pytest.mark.parametrize("n", [3, 8, 9, 60, 152])
def test_every_rule_drops_the_share_never_two_in_a_row_nor_the_ends(rule, n):
    red = np.random.default_rng(n).random(n)
    keep = drop_plan(n, rule, 0.2, red, key=3)
    assert (~keep).sum() == round(0.2 * n)
    assert keep[0] and keep[-1]
    assert not np.any(~keep[1:] & ~keep[:-1])


def test_redundant_rules_drop_the_most_redundant_seconds_first():
    red = np.array([0.0, 0.1, 0.9, 0.8, 0.2, 0.95, 0.3, 0.1, 0.0, 0.0])
    keep = drop_plan(10, "redundant-regions", 0.2, red)
    assert list(np.flatnonzero(~keep)) == [2, 5]  # 3 (0.8) is next to 2, already dropped
    with pytest.raises(ValueError):
        drop_plan(10, "redundant-global", 0.2, None)
    with pytest.raises(ValueError):
        drop_plan(10, "sometimes", 0.2)


def test_random_draws_differ_between_videos_and_seeds_and_repeat_for_the_same():
    a, b, c = (drop_plan(60, r, 0.2, key=k) for r, k in (("random0", 1), ("random0", 2), ("random1", 1)))
    assert not np.array_equal(a, b) and not np.array_equal(a, c)
    assert np.array_equal(a, drop_plan(60, "random0", 0.2, key=1))


def test_neighbour_similarity_is_the_closer_neighbour():
    assert list(neighbour_similarity(np.array([0.2, 0.9, 0.5]))) == [0.2, 0.9, 0.9, 0.5]
    assert len(neighbour_similarity(np.zeros(0))) == 1


def test_a_thinned_map_shows_the_nearest_kept_keyframe_each_second():
    q, r = 3, 6
    vals = np.arange(q * r, dtype=np.float32).reshape(q, r)
    m = SimilarityMap(vals, np.arange(q, dtype=float), np.arange(r, dtype=float), None, 1.0, 1.0)
    c = CandidateMap("v", "v.mp4", 1.0, m, dense=vals.copy(), ref_global=np.eye(r, dtype=np.float32))
    keep = np.array([True, True, False, True, False, True])
    t = thinned(c, keep)
    assert list(t.map.r_times) == [0, 1, 2, 3, 4, 5]
    # second 2 is as near to 1 as to 3 and shows the earlier; second 4 likewise shows 3
    assert np.array_equal(t.map.values, vals[:, [0, 1, 1, 3, 3, 5]])
    assert np.array_equal(t.dense, vals[:, [0, 1, 1, 3, 3, 5]])
    assert np.array_equal(t.ref_global, np.eye(r)[[0, 1, 1, 3, 3, 5]])


def test_the_command_refuses_bad_shares_rules_and_folders(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["--bench", str(tmp_path), "--drop", "0.6"])
    with pytest.raises(SystemExit):
        main(["--bench", str(tmp_path), "--rules", "often"])
    assert main(["--bench", str(tmp_path)]) == 2
    assert "not a built benchmark folder" in capsys.readouterr().err
