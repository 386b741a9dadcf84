"""The learned keyframe selector: streaming equals whole-video scoring, the sparse uniform
mask, the teacher, and irregular keyframe times through ingest, index, maps and JSON."""
import json

import numpy as np
import pytest
import torch

from segscan.pipeline.ske import SKENet, SKESelector, keep_rule
from segscan.train.ske import good_frames, teacher_labels
from segscan.types import Frame


def _net(thumbs, seed=0):
    """A random student, its last layer set so that on ``thumbs`` the scores spread
    around 0.5 (logits of median 0 and standard deviation 2)."""
    torch.manual_seed(seed)
    net = SKENet().eval()
    with torch.no_grad():
        logits = net(torch.from_numpy(thumbs)[None])[0]
        last = net.temporal[-1]
        last.weight.mul_(2.0 / float(logits.std()))
        last.bias.mul_(2.0 / float(logits.std()))
        last.bias.sub_(float(net(torch.from_numpy(thumbs)[None])[0].median()))
    return net


def _frames(n, fps=8.0, seed=0):
    rng = np.random.default_rng(seed)
    thumbs = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
    return [Frame(i, i / fps, image=np.zeros((4, 4, 3), np.uint8), thumb=thumbs[i]) for i in range(n)], thumbs


def test_streamed_selection_equals_whole_video_selection():
    frames, thumbs = _frames(150)
    net = _net(thumbs)
    sel = SKESelector(threshold=0.5, max_gap=1.5, net=net, chunk=16)
    got = [f.index for f in sel.select(frames)]
    probs = sel.scores(thumbs)
    assert 0.05 < (probs >= 0.5).mean() < 0.95  # the check below decides something
    want = list(np.flatnonzero(keep_rule(probs, np.arange(150) / 8.0, 0.5, 1.5)))
    assert got == want
    assert got == sorted(set(got)) and got[0] == 0
    assert len(set(np.diff(got))) > 1  # irregular
    # a video that ends just after a chunk: its last frames are the chunk's lookahead
    sel.chunk = 142 - SKENet.RADIUS
    assert [f.index for f in sel.select(frames[:142])] == list(np.flatnonzero(
        keep_rule(sel.scores(thumbs[:142]), np.arange(142) / 8.0, 0.5, 1.5)))


def test_on_the_grid_a_keyframe_is_a_second_where_the_picture_changed_since_the_one_before():
    times = np.arange(80) / 8.0
    probs = np.zeros(80)
    probs[[35, 36, 37]] = 0.9  # a change at 4.4-4.6 s: the candidate at 5 s is kept, once
    keep = keep_rule(probs, times, 0.5, 10.0, step=1.0)
    assert list(times[keep]) == [0.0, 5.0]
    keep = keep_rule(probs, times, 0.5, 2.0, step=1.0)  # the gap rule on the candidates
    assert list(times[keep]) == [0.0, 2.0, 4.0, 5.0, 7.0, 9.0]
    state = {}  # chunk by chunk, as the streaming selector calls it
    parts = [keep_rule(probs[i:i + 13], times[i:i + 13], 0.5, 2.0, state, step=1.0) for i in range(0, 80, 13)]
    assert (np.concatenate(parts) == keep).all()
    frames, thumbs = _frames(150)
    sel = SKESelector(threshold=0.5, max_gap=1.5, net=_net(thumbs), chunk=16, step=1.0)
    sel.threshold = float(np.quantile(sel.scores(thumbs), 0.97))  # a change in a few seconds only
    got = np.array([f.time for f in sel.select(frames)])
    assert np.allclose(got, np.round(got)) and 9 < len(got) < 19  # whole seconds, some skipped


def test_sparse_uniform_mask_and_short_clips():
    frames, thumbs = _frames(50)
    net = _net(thumbs)
    never = SKESelector(threshold=1.0, max_gap=1.5, net=net, chunk=8)  # no score reaches 1
    assert [f.index for f in never.select(frames)] == [0, 12, 24, 36, 48]
    # a clip shorter than the gap still gets two keyframes, the second its last frame
    assert [f.index for f in never.select(frames[:5])] == [0, 4]
    assert list(never.select([])) == []
    with pytest.raises(ValueError):
        SKESelector(threshold=1.5, net=net)
    with pytest.raises(ValueError):
        SKESelector(max_gap=0, net=net)


def test_teacher_marks_scene_changes_on_good_frames():
    rng = np.random.default_rng(0)
    scenes = rng.normal(size=(3, 16))
    feats = np.repeat(scenes, 10, axis=0) + 0.05 * rng.normal(size=(30, 16))
    feats /= np.linalg.norm(feats, axis=1, keepdims=True)
    ok = np.ones(30, bool)
    assert list(np.flatnonzero(teacher_labels(feats, ok, 0.8))) == [0, 10, 20]
    ok[20] = ok[21] = False  # a dark cut: the next good frame takes the keyframe
    assert list(np.flatnonzero(teacher_labels(feats, ok, 0.8))) == [0, 10, 22]
    q = np.array([[100, 40, 50.0], [5, 40, 50], [100, 2, 50], [100, 40, 1], [100, 40, 60]])
    assert list(good_frames(q)) == [True, False, False, False, True]


def test_thumbnails_from_the_decoder_match_the_picture(corpus):
    from PIL import Image

    from segscan.pipeline.decode import DecodeOptions, VideoReader

    root, _ = corpus
    fr = list(VideoReader(root / "gallery" / "coffee.mp4", DecodeOptions(fps=2, size=(320, 240), crop_borders=False)))[3]
    thumb = fr.thumbnail
    assert thumb.shape == (32, 32, 3) and thumb.dtype == np.uint8
    box = np.asarray(Image.fromarray(fr.image).resize((32, 32), Image.BOX)).astype(int)
    assert np.abs(thumb.astype(int) - box).mean() < 8 and thumb.std() > 10


def test_irregular_keyframe_times_flow_through_ingest_query_and_json(corpus, tmp_path, monkeypatch):
    """SKE keyframes are irregular in time; the database stores them as they are, the query
    builds its maps on them, and the JSON's segments land on the copied seconds."""
    import ingest as ingest_cli
    import query as query_cli

    import segscan.pipeline.ske as ske
    from segscan.index.store import Database

    from segscan.pipeline.decode import DecodeOptions, VideoReader

    root, truth = corpus
    thumbs = np.stack([f.thumbnail for f in VideoReader(root / "gallery" / "coffee.mp4", DecodeOptions(fps=8))])
    weights = tmp_path / "ske.pt"
    torch.save({"arch": {}, "state": _net(thumbs, seed=3).state_dict()}, weights)
    monkeypatch.setattr(ske, "weights_path", lambda: weights)
    db = str(tmp_path / "db")
    flags = ["--keyframes", "ske", "--ske-max-gap", "1.0", "--ske-threshold", "0.5", "--no-ske-grid"]  # any basis frame
    assert ingest_cli.main([str(root / "gallery"), "--db", db, "--workers", "0", "-q", *flags]) == 0
    with Database.open(db, readonly=True) as d:
        assert d.feature_config["keyframes"] == "ske" and "ske_weights" in d.feature_config
        times = [d.features_by_num(v.num).times for v in d.videos()]
    gaps = np.concatenate([np.diff(t) for t in times])
    assert gaps.max() <= 1.0 + 1e-6 and len(np.unique(np.round(gaps, 3))) > 2
    out = tmp_path / "r.json"
    from segscan.pipeline.extract import EncoderConfig, VideoEncoder

    encode, asked = VideoEncoder.__call__, []
    monkeypatch.setattr(VideoEncoder, "__call__", lambda self, path, views=(), query=False:
                        asked.append(query) or encode(self, path, views, query))
    assert query_cli.main([str(root / "query.mp4"), "--db", db, "--json", str(out), "-q", *flags]) == 0
    assert asked == [True]  # the query path encodes its clip as a query
    monkeypatch.setattr(VideoEncoder, "__call__", encode)
    top = json.loads(out.read_text())["results"][0]
    assert top["path"].endswith(truth["reference"]) and top["copy"]
    seg = max(top["segments"], key=lambda s: s["query_end"] - s["query_start"])
    q0, q1, r0, r1 = truth["segment"]
    assert abs(seg["query_start"] - q0) <= 1.5 and abs(seg["query_end"] - q1) <= 1.5
    assert abs(seg["ref_start"] - r0) <= 1.5 and abs(seg["ref_end"] - r1) <= 1.5
    # a query with other keyframe settings than the database's is refused
    assert query_cli.main([str(root / "query.mp4"), "--db", db, "-q"]) == 2
    # the clip searched with is encoded one keyframe a second: only the catalogue's are irregular
    enc = VideoEncoder(EncoderConfig(keyframes="ske", ske_max_gap=1.0, ske_threshold=0.5, ske_grid=False))
    assert np.allclose(np.diff(enc(str(root / "query.mp4"), query=True).features.times), 1.0, atol=0.07)
    assert len(np.unique(np.round(np.diff(enc(str(root / "query.mp4")).features.times), 3))) > 1


def test_catalogue_keyframes_are_resampled_on_a_one_second_grid_unless_they_are_one_a_second():
    from segscan.index.simmap import needs_grid, time_grid
    from segscan.query.maps import on_time_grid
    from segscan.types import CandidateMap, SimilarityMap

    assert not needs_grid({"keyframes": "uniform", "keyframe_fps": 1.0})
    assert needs_grid({"keyframes": "uniform", "keyframe_fps": 2.0}) and needs_grid({"keyframes": "ske"})
    grid, nearest = time_grid(np.arange(8) * 0.5)  # two a second: the one at each second
    assert list(grid) == [0, 1, 2, 3] and list(nearest) == [0, 2, 4, 6]
    r = np.array([0.0, 0.25, 0.7, 2.0, 3.6, 4.0])
    grid, nearest = time_grid(r)
    assert list(grid) == [0, 1, 2, 3, 4]
    assert list(nearest) == [0, 2, 3, 4, 5]  # the nearest: 0.7 for second 1, 3.6 for second 3
    assert list(time_grid(np.array([0.0, 2.0, 3.0, 5.0]))[1]) == [0, 0, 1, 2, 2, 3]  # a tie: the earlier
    grid, nearest = time_grid(np.arange(5.0) + 0.04)  # one a second: unchanged
    assert list(nearest) == [0, 1, 2, 3, 4]
    assert list(time_grid(np.array([2.0]))[1]) == [0]  # one keyframe: itself
    q = np.arange(8.0)
    vals = np.random.default_rng(0).random((8, 6)).astype(np.float32)
    mask = np.ones((8, 6), bool)
    mask[:, 2] = False
    planes = np.stack([vals - 1, vals + 2])  # a comparator's planes follow the columns too
    c = CandidateMap("v", "p", 0.5, SimilarityMap(vals, q, r, mask, planes=planes), dense=vals + 1,
                     ref_global=np.arange(6)[:, None] * np.ones((6, 3)), query_global=np.eye(8))
    g = on_time_grid(c)
    assert g.map.values.shape == (8, 5) and list(g.map.r_times) == [0, 1, 2, 3, 4] and g.map.r_step == 1.0
    np.testing.assert_allclose(g.map.values, vals[:, [0, 2, 3, 4, 5]])
    np.testing.assert_allclose(g.dense, vals[:, [0, 2, 3, 4, 5]] + 1)
    np.testing.assert_allclose(g.map.planes, planes[:, :, [0, 2, 3, 4, 5]])
    assert not g.map.mask[:, 1].any() and g.map.mask[:, [0, 2, 3, 4]].all()
    assert list(g.ref_global[:, 0]) == [0, 2, 3, 4, 5] and g.query_global.shape == (8, 8)
    assert list(g.map.q_times) == list(q)  # a query's rows are one a second already


def test_a_query_clip_gets_one_keyframe_a_second_whatever_the_catalogue_keeps():
    from segscan.pipeline.extract import EncoderConfig, query_config

    for cfg in (EncoderConfig(keyframes="ske", ske_threshold=0.7), EncoderConfig(keyframe_fps=8.0), EncoderConfig()):
        q = query_config(cfg)
        assert (q.keyframes, q.keyframe_fps) == ("uniform", 1.0) and q.backbone == cfg.backbone
