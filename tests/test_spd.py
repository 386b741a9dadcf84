"""SPD: rendering maps into detector windows, box conversions, and the shipped detector."""
import numpy as np
import pytest

from segscan.align.spd import DEFAULT_WEIGHTS, SPDAligner, _merge
from segscan.detectors.spd.render import (IMGSZ, WINDOW, box_seconds_to_cells, cell_to_time, time_to_cell,
                                          window_labels, windows)
from segscan.errors import WeightsNotFoundError
from segscan.types import SimilarityMap


def _diag_map(nq, nr, q0, r0, n, slope=1.0):
    v = np.zeros((nq, nr), np.float32)
    for k in range(n):
        v[q0 + k, int(r0 + k * slope)] = 0.9
    return SimilarityMap(v, np.arange(nq, dtype=float), np.arange(nr, dtype=float))


def test_time_cell_roundtrip_irregular_times():
    times = np.array([0.0, 0.5, 2.0, 2.25, 5.0])
    for t in [0.0, 0.25, 1.0, 2.1, 3.0, 5.5]:
        assert cell_to_time(time_to_cell(t, times, 1.0), times, 1.0) == pytest.approx(t)


def test_windows_cover_long_maps_without_squashing():
    m = _diag_map(30, 300, 0, 0, 1)
    ws = windows(m)
    assert all(w.image.shape == (IMGSZ, IMGSZ) for w in ws)
    assert len(ws) == 6  # 300 columns in 64-wide windows overlapping by 16
    assert ws[-1].r0 + WINDOW == 300
    # one cell is SCALE x SCALE pixels, with the similarity as the grey level
    assert ws[0].image[0, 0] == int(0.9 * 255)


def test_three_channel_windows_show_which_diagonal_stands_out():
    # footage alike at every offset: the raw map is one bright block, and a copy adds a diagonal
    m = _diag_map(30, 100, 0, 40, 30)
    m.values += 0.5
    w1, w3 = windows(m)[0], windows(m, "centred")[0]
    assert w3.image.shape == (3, IMGSZ, IMGSZ) and len(windows(m, "centred")) == 2
    assert np.array_equal(w3.image[0], w1.image)  # channel 0 is the 1-channel image
    both = w3.image[1, ::2, ::2].astype(int)  # one pixel per cell
    on = both[np.arange(24), 40 + np.arange(24)]
    off = both[np.arange(24), np.arange(24)]
    assert on.min() > 128 + 100 and abs(off - 128).max() < 20  # the block is centred away, the copy stays
    # cells past the map's end are 0 in every channel
    assert not w3.image[:, 2 * 30:, :].any()
    with pytest.raises(ValueError, match="SPD images are one of"):
        windows(m, "rgb")


def test_comparator_windows_show_its_planes_beside_the_similarity():
    m = _diag_map(30, 100, 0, 40, 30)
    with pytest.raises(ValueError, match="comparator planes"):
        windows(m, "comparator")
    rng = np.random.default_rng(0)
    planes = np.clip(rng.normal(size=(2, 30, 100)), -1, 1)
    m = SimilarityMap(m.values, m.q_times, m.r_times, m.mask, planes=planes)
    w1, w3 = windows(m)[0], windows(m, "comparator")[0]
    assert w3.image.shape == (3, IMGSZ, IMGSZ) and np.array_equal(w3.image[0], w1.image)
    cells = w3.image[1:, ::2, ::2].astype(int)  # one pixel per cell
    np.testing.assert_allclose(cells[:, :30, :64], 128 + 127 * planes[:, :, :64], atol=1.0)
    assert not w3.image[:, 2 * 30:, :].any()
    with pytest.raises(ValueError, match="do not match"):
        SimilarityMap(m.values, m.q_times, m.r_times, planes=planes[:, :, :50])


def test_the_card_names_the_image_kind_and_the_comparator_it_needs(tmp_path):
    import json

    from segscan.query import QueryConfig, resolve

    for data, image in (({}, "similarity"), ({"channels": 3}, "centred"),
                        ({"image": "comparator", "channels": 3}, "comparator")):
        (tmp_path / "w.json").write_text(json.dumps({"data": {"maps": "regions", **data}}))
        al = SPDAligner(weights=str(tmp_path / "w.pt"))
        assert al.image == image
        # the query path runs the comparator whose planes the weights read, or the caller's
        assert resolve(QueryConfig(), al).comparator == ("visil" if image == "comparator" else None)
        assert resolve(QueryConfig(comparator="visil"), al).comparator == "visil"
    # a detector trained on another comparator's planes names its weights file, and the query path runs it
    (tmp_path / "w.json").write_text(json.dumps({"data": {"image": "comparator", "comparator": "runs/v.pt"}}))
    al = SPDAligner(weights=str(tmp_path / "w.pt"))
    assert resolve(QueryConfig(), al).comparator == resolve(QueryConfig(comparator="visil"), al).comparator == "runs/v.pt"
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "v.pt").write_bytes(b"")  # a relative name is found beside the card first
    assert SPDAligner(weights=str(tmp_path / "w.pt")).comparator == str(tmp_path / "runs" / "v.pt")


def test_training_images_of_the_comparator_kind_keep_their_three_planes(tmp_path):
    from PIL import Image

    from segscan.train.spd import build_dataset

    m = _diag_map(30, 40, 0, 5, 20)
    m = SimilarityMap(m.values, m.q_times, m.r_times, planes=np.stack([np.full((30, 40), 0.5), np.full((30, 40), -0.5)]))
    counts = build_dataset(tmp_path, [(m, [(5.0, 0.0, 25.0, 20.0)])], [(m, [])], 0, 0, 1, dense=True, image="comparator")
    assert counts == {"real_pos_windows": 1, "real_neg_windows": 1, "synthetic_windows": 0}
    assert "channels: 3" in (tmp_path / "data.yaml").read_text()
    png = next((tmp_path / "images").rglob("real_pos_*.png"))
    pic = np.asarray(Image.open(png))
    assert pic.shape == (IMGSZ, IMGSZ, 3) and pic[10, 10 + 2 * 5, 0] == int(0.9 * 255)
    assert pic[0, 0, 1] == 191 and pic[0, 0, 2] == 64  # 128 + 127 x 0.5 and x -0.5, truncated


def test_copies_drawn_on_a_real_map_are_drawn_into_the_comparators_input_and_answered_by_its_cnn():
    import torch

    from segscan.compare.visil import ViSiL, ViSiLConfig, planes
    from segscan.detectors.spd.synth import synthetic_map, with_comparator_planes

    rng = np.random.default_rng(3)
    vals = rng.normal(0.0, 0.1, (20, 30)).astype(np.float32)
    frame = 0.5 * vals + 0.2  # the comparator's frame similarity: another scale of the same pairs
    bg = SimilarityMap(vals, np.arange(20.0), np.arange(30.0), planes=np.stack([np.zeros_like(vals), frame]))
    with pytest.raises(ValueError, match="no comparator planes"):
        with_comparator_planes(None, SimilarityMap(vals, bg.q_times, bg.r_times), bg)
    m, boxes = synthetic_map(np.random.default_rng(0), bg, dense=True)
    assert boxes and (m.values > vals).any()
    model = ViSiL(ViSiLConfig(dim=8)).eval()
    out = with_comparator_planes(model, bg, m)
    assert np.array_equal(out.values, m.values) and out.planes.shape == (2, 20, 30)
    want = np.clip(frame + 0.5 * (m.values - vals), -1, 1)  # the drawn copies at the fitted slope
    np.testing.assert_allclose(out.planes[1], want, atol=1e-4)
    t = torch.from_numpy(want.astype(np.float32))[None]
    with torch.inference_mode():
        sv, _ = model.refine(t, torch.tensor([30]))
    np.testing.assert_allclose(out.planes[0], planes(t, sv, torch.tensor([30]))[0][0], atol=1e-5)


def test_labels_follow_the_box():
    m = _diag_map(40, 40, 5, 10, 20)
    cells = [box_seconds_to_cells([5.0, 10.0, 25.0, 30.0], m)]
    assert cells[0] == pytest.approx((10.0, 5.0, 30.0, 25.0))
    (w,) = windows(m)
    (lab,) = window_labels(cells, w)
    assert lab == pytest.approx((20 / WINDOW, 15 / WINDOW, 20 / WINDOW, 20 / WINDOW))


def test_merge_joins_overlapping_boxes():
    merged = _merge([[0, 0, 10, 10, 0.9], [8, 8, 20, 20, 0.5], [40, 40, 50, 50, 0.7]])
    assert len(merged) == 3  # a corner touch (4 of 100 cells) is not the same copy
    merged = _merge([[0, 0, 10, 10, 0.9], [5, 5, 12, 12, 0.5]])
    assert merged == [[0, 0, 12, 12, 0.9]]


def test_missing_weights_say_how_to_train(tmp_path):
    a = SPDAligner(weights=str(tmp_path / "none.pt"))
    with pytest.raises(WeightsNotFoundError, match="segscan.train.spd"):
        a.align([_diag_map(10, 10, 0, 0, 5)])


@pytest.mark.skipif(not DEFAULT_WEIGHTS.exists(), reason="SPD weights not trained yet")
def test_shipped_detector_finds_a_clear_copy():
    m = _diag_map(40, 60, 5, 20, 20)
    m.values += np.random.default_rng(0).uniform(0, 0.2, m.values.shape).astype(np.float32)
    (segs,) = SPDAligner().align([m])
    assert segs
    best = max(segs, key=lambda s: s.score)
    assert abs(best.q_start - 5) <= 2 and abs(best.q_end - 25) <= 2
    assert abs(best.r_start - 20) <= 2 and abs(best.r_end - 40) <= 2


def test_loose_box_snaps_to_the_diagonal_inside_it():
    from segscan.types import Segment

    m = _diag_map(20, 40, 4, 10, 8)  # copy: query 4..12 s <-> reference 10..18 s
    al = SPDAligner(weights="/nonexistent.pt", evidence=0.0)  # weights are only loaded for detection
    loose = Segment(3.0, 13.0, 8.0, 20.0, 0.8)  # a box a little too big on every side
    got = al._snap(loose, m, (3.0, 13.0, 8.0, 20.0))
    assert (got.q_start, got.q_end, got.r_start, got.r_end, got.score) == (4.0, 12.0, 10.0, 18.0, 0.8)
    fast = _diag_map(20, 40, 4, 10, 8, slope=2.0)  # a 2x copy keeps its box
    box = Segment(4.0, 12.0, 10.0, 25.0, 0.7)
    assert al._snap(box, fast, (4.0, 12.0, 10.0, 25.0)) == box


def test_path_floor_leaves_weak_rows_of_a_loose_box_out():
    from segscan.types import Segment

    m = _diag_map(20, 40, 4, 10, 8)  # copy: query 4..12 s <-> reference 10..18 s, cells 0.9
    m.values[2:4] = 0.03  # two rows of unrelated footage above it, barely over the background
    loose = Segment(2.0, 12.0, 8.0, 18.0, 0.8)
    cells = (2.0, 12.0, 8.0, 18.0)
    assert SPDAligner(weights="/nonexistent.pt")._snap(loose, m, cells).q_start == 2.0
    got = SPDAligner(weights="/nonexistent.pt", path_floor=0.1)._snap(loose, m, cells)
    assert (got.q_start, got.q_end, got.r_start, got.r_end) == (4.0, 12.0, 10.0, 18.0)


def test_box_confidence_weighed_by_map_evidence():
    from segscan.types import Segment

    strong = _diag_map(20, 40, 4, 10, 8)  # path cells 0.9
    weak = _diag_map(20, 40, 4, 10, 8)
    weak.values *= 0.3
    box, cells = Segment(4.0, 12.0, 10.0, 18.0, 0.8), (4.0, 12.0, 10.0, 18.0)
    plain = SPDAligner(weights="/nonexistent.pt", evidence=0.0)
    assert plain._score(box, strong, cells).score == pytest.approx(0.8)
    al = SPDAligner(weights="/nonexistent.pt", evidence=1.0)
    s_strong, s_weak = al._score(box, strong, cells).score, al._score(box, weak, cells).score
    assert s_strong == pytest.approx(0.8 * 0.9, rel=1e-5) and s_weak == pytest.approx(0.8 * 0.27, rel=1e-5)


def test_path_score_is_line_mean_plus_length_plus_confidence():
    from segscan.types import Segment

    m = _diag_map(20, 40, 4, 10, 8)  # path cells 0.9, 8 query keyframes
    box, cells = Segment(4.0, 12.0, 10.0, 18.0, 0.8), (4.0, 12.0, 10.0, 18.0)
    al = SPDAligner(weights="/nonexistent.pt", score="path", conf_weight=0.5, length_weight=0.1)
    assert al._score(box, m, cells).score == pytest.approx(0.9 + 0.1 * np.log(8) + 0.5 * 0.8, rel=1e-5)
    off = Segment(4.0, 12.0, 20.0, 28.0, 0.8)  # the same box off the diagonal: no similarity on its line
    assert al._score(off, m, cells).score == pytest.approx(0.1 * np.log(8) + 0.5 * 0.8, rel=1e-5)
    with pytest.raises(ValueError, match="evidence"):
        SPDAligner(weights="/nonexistent.pt", score="bogus")


def test_detections_are_reused_from_a_shared_cache():
    m = _diag_map(10, 10, 0, 0, 5)
    calls = []

    class Counting(SPDAligner):
        def _detect(self, maps):
            calls.append(len(maps))
            return [[] for _ in maps]

    cache = {}
    a, b = Counting(weights="/nonexistent.pt", cache=cache), Counting(weights="/nonexistent.pt", cache=cache)
    assert a.align([m]) == [[]] and b.align([m]) == [[]]
    assert calls == [1]  # the second aligner found the map's boxes in the cache


def test_paths_add_tn_segments_no_box_covers_at_confidence_zero_on_the_first_maps():
    from segscan.types import Segment

    m = _diag_map(30, 40, 2, 5, 8)  # copy A: rows 2-9, columns 5-12
    for k in range(6):  # copy B: rows 18-23, columns 25-30
        m.values[18 + k, 25 + k] = 0.9

    class OneBox(SPDAligner):  # the detector sees copy A only
        def _detect(self, maps):
            return [[(Segment(2.0, 10.0, 5.0, 13.0, 0.7), (2.0, 10.0, 5.0, 13.0))] for _ in maps]

    kw = dict(weights="/nonexistent.pt", score="path", conf_weight=0.5, length_weight=0.1)
    (only,) = OneBox(**kw).align([m])
    assert len(only) == 1
    (both,) = OneBox(**kw, paths=5).align([m])
    assert len(both) == 2  # TN's path over copy A is covered by the box and not repeated
    a, b = sorted(both, key=lambda s: s.q_start)
    assert a.score == pytest.approx(only[0].score)
    assert (b.q_start, b.q_end) == pytest.approx((18.0, 24.0), abs=0.01)
    assert (b.r_start, b.r_end) == pytest.approx((25.0, 31.0), abs=0.01)
    assert b.score == pytest.approx(0.9 + 0.1 * np.log(6), rel=1e-4)  # path score with confidence 0
    assert not OneBox(**kw | {"score": "evidence"}, paths=5).paths  # paths need the path score
    # only the first `paths` maps of a call (the query's best-ranked candidates) get TN's paths
    first, second = OneBox(**kw, paths=1).align([m, m])
    assert (len(first), len(second)) == (2, 1)


def test_card_gives_map_kind_and_copy_threshold(tmp_path):
    import json

    w = tmp_path / "w.pt"
    assert SPDAligner(weights=str(w)).maps == "sparse" and SPDAligner(weights=str(w)).copy_threshold == 0.0
    (tmp_path / "w.json").write_text(json.dumps({"data": {"maps": "regions"}, "test_metrics": {"threshold": 0.12}}))
    a = SPDAligner(weights=str(w))
    assert (a.maps, a.copy_threshold, a.list_floor) == ("regions", 0.12, 0.0)
    assert (a.score, a.evidence) == ("evidence", 1.0)  # cards without a scoring: the former scoring
    (tmp_path / "w.json").write_text(json.dumps({"scoring": {"score": "path", "conf_weight": 0.2}}))
    a = SPDAligner(weights=str(w))
    assert (a.score, a.conf_weight, a.length_weight, a.list_floor) == ("path", 0.2, 0.06, 0.2)
    assert SPDAligner(weights=str(w), score="evidence").score == "evidence"  # arguments win over the card


def test_real_maps_keep_held_out_footage_aside_only_when_asked(monkeypatch):
    import segscan.bench.splits as splits
    from segscan.corpus import held_out_group
    from segscan.train.spd import real_maps
    from segscan.types import CandidateMap

    m = _diag_map(10, 10, 0, 0, 8)
    # two queries copying nothing, one whose id hashes to the held-out fifth and one not
    ids = [f"n{i}" for i in range(20)]
    aside = next(i for i in ids if held_out_group(i))
    kept = next(i for i in ids if not held_out_group(i))
    cand = lambda ref: CandidateMap(ref, f"/g/{ref}.mp4", 1.0, m)
    queries = [splits.QueryMaps("q1", 10.0, [cand("a"), cand("b")], 0.0),
               splits.QueryMaps("q2", 10.0, [cand("b"), cand("a")], 0.0),
               splits.QueryMaps(aside, 10.0, [cand("b")], 0.0), splits.QueryMaps(kept, 10.0, [cand("b")], 0.0)]
    truth = {"q1-a": [[0, 0, 8, 8]], "q2-b": [[0, 0, 8, 8]]}
    monkeypatch.setattr(splits, "load_split", lambda bench, part: splits.Split(labels=dict(truth)))
    monkeypatch.setattr(splits, "cached_queries", lambda *a, **k: list(queries))
    monkeypatch.setattr(splits, "held_out_references", lambda bench: {"a"})
    pos, neg = real_maps(None, keep_aside=False)
    assert len(pos) == 2 and len(neg) == 4  # every query, every map
    pos, neg = real_maps(None, keep_aside=True)
    assert len(pos) == 1 and len(neg) == 1  # q2's copy of b and the kept query's b; nothing of a


def test_cross_fitted_planes_come_from_the_comparator_that_left_the_querys_fold_out(monkeypatch, tmp_path):
    import segscan.bench.splits as splits
    from segscan.train.spd import build_dataset, real_maps
    from segscan.types import CandidateMap

    def queries(weights):  # each fold's comparator marks its planes with its fold
        mark = float(weights[1])
        m = _diag_map(10, 10, 0, 0, 8)
        m = SimilarityMap(m.values, m.q_times, m.r_times, m.mask, planes=np.full((2, 10, 10), mark, np.float32))
        cand = lambda ref: CandidateMap(ref, f"/g/{ref}.mp4", 1.0, m)
        return [splits.QueryMaps("q1", 10.0, [cand("a"), cand("b")], 0.0),
                splits.QueryMaps("q2", 10.0, [cand("b"), cand("a")], 0.0)]

    monkeypatch.setattr(splits, "load_split",
                        lambda bench, part: splits.Split(labels={"q1-a": [[0, 0, 8, 8]], "q2-b": [[0, 0, 8, 8]]}))
    monkeypatch.setattr(splits, "cached_queries", lambda *a, comparator, **k: queries(comparator))
    monkeypatch.setattr(splits, "reference_folds", lambda bench, k: {"a": 0, "b": 1})
    pos, neg = real_maps(None, comparator="visil", keep_aside=False, folds=["f0.pt", "f1.pt"])
    # q1 copies fold 0's footage: its maps carry the planes of f0.pt, which left fold 0 out
    assert sorted(float(m.planes[0, 0, 0]) for m, _ in pos) == [0.0, 1.0]
    assert sorted((float(m.planes[0, 0, 0]), fold) for m, _, fold in neg) == [(0.0, 0), (1.0, 1)]

    class Marked:  # a synthetic copy drawn on a negative gets the planes of that negative's fold's model
        def __init__(self, fold):
            self.fold = fold

    used = []
    monkeypatch.setattr("segscan.train.spd.with_comparator_planes", lambda model, bg, m: used.append(
        (model.fold, float(bg.planes[0, 0, 0]))) or SimilarityMap(m.values, m.q_times, m.r_times, m.mask,
                                                                  planes=bg.planes))
    build_dataset(tmp_path, pos, neg, 6, 0, 2, dense=True, image="comparator", comparators=[Marked(0), Marked(1)])
    assert used and all(f == mark for f, mark in used)
