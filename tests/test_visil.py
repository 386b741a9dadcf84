"""The ViSiL comparator: its frame similarity is the query path's, batching changes nothing,
training separates copies from hard negatives, and the query path ranks by it."""
import numpy as np
import pytest
import torch

from segscan.bench.pairs import QueryPairs, pair_metrics, scores
from segscan.compare.visil import Comparator, ViSiL, ViSiLConfig, load, planes, save
from segscan.index.simmap import chamfer_similarity
from segscan.train.visil import temporal_edit, triplet_loss


def unit(x):
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def test_without_attention_and_comparator_it_is_the_query_paths_region_similarity():
    rng = np.random.default_rng(0)
    q = unit(rng.normal(size=(3, 11, 9, 32)))  # the query and two views
    refs = [unit(rng.normal(size=(n, 9, 32))) for n in (5, 17)] + [unit(rng.normal(size=(6, 1, 32)))]
    m = ViSiL(ViSiLConfig(dim=32, attention=False, comparator=False))
    sf, lengths = m.frame_similarity(torch.from_numpy(q), [torch.from_numpy(r) for r in refs])
    assert lengths.tolist() == [5, 17, 6]
    for i, r in enumerate(refs):
        want = np.maximum.reduce([chamfer_similarity(q[v], r) for v in range(3)])
        np.testing.assert_allclose(sf[i, :, :len(r)].numpy(), want, atol=1e-5)
        assert not sf[i, :, len(r):].any()  # padding


def test_max_pooling_scores_a_partial_copy_whatever_else_the_query_shows():
    rng = np.random.default_rng(5)
    ref = unit(rng.normal(size=(12, 9, 32)))
    copy = unit(ref[2:8] + 0.1 * rng.normal(size=(6, 9, 32)))
    scores = {}
    for pooling in ("mean", "max"):
        m = ViSiL(ViSiLConfig(dim=32, attention=False, comparator=False, pooling=pooling))
        for filler in (0, 30):
            q = np.concatenate([copy, unit(rng.normal(size=(filler, 9, 32)))])[None]
            scores[pooling, filler] = float(m(torch.from_numpy(q), [torch.from_numpy(ref)])[0][0])
    assert scores["max", 30] == pytest.approx(scores["max", 0], abs=1e-6)
    assert scores["mean", 30] < 0.5 * scores["mean", 0]


@pytest.mark.parametrize("pools", [2, 1])
def test_a_batch_of_candidates_scores_as_each_alone(pools):
    rng = np.random.default_rng(1)
    q = torch.from_numpy(unit(rng.normal(size=(2, 13, 9, 32))))
    refs = [torch.from_numpy(unit(rng.normal(size=(n, 9, 32)))) for n in (3, 9, 30)]
    m = ViSiL(ViSiLConfig(dim=32, pools=pools)).eval()
    with torch.no_grad():
        torch.nn.init.normal_(m.conv1.bias, std=0.5)  # padding must stay zero despite biases
        s, sv, valid = m(q, refs)
        for i, r in enumerate(refs):
            s1, sv1, v1 = m(q, [r])
            assert float(s[i]) == pytest.approx(float(s1[0]), abs=1e-5)
            np.testing.assert_allclose(sv[i, :, :sv1.shape[2]].numpy(), sv1[0].numpy(), atol=1e-5)
            assert int(valid[i].sum()) == sv1.shape[2] == -(-len(r) // m.stride)
        assert sv.shape[1] == -(-13 // m.stride)


def test_the_comparators_planes_are_its_maps_at_one_cell_per_keyframe_pair():
    rng = np.random.default_rng(2)
    q = unit(rng.normal(size=(2, 13, 9, 32)))
    refs = [unit(rng.normal(size=(n, 9, 32))) for n in (3, 9, 30)]
    m = ViSiL(ViSiLConfig(dim=32, pooling="max")).eval()
    comp = Comparator(m)
    s, pl = comp.compare(list(q), refs)
    np.testing.assert_allclose(s, comp.scores(list(q), refs), atol=1e-6)  # the same pass gives both
    for r, p in zip(refs, pl):
        assert p.shape == (2, 13, len(r)) and np.abs(p).max() <= 1.0
        with torch.inference_mode():
            sf, _ = m.frame_similarity(torch.from_numpy(q), [torch.from_numpy(r)])
            alone = comp.compare(list(q), [r])[1][0]
        np.testing.assert_allclose(p[1], sf[0].clamp(-1, 1).numpy(), atol=1e-5)  # the frame similarity
        np.testing.assert_allclose(p, alone, atol=1e-5)  # batching changes no plane
    # the refined plane is the (Q/4, R/4) output, hard tanh'd and upsampled: where that output is
    # affine, each 4 x 4 block of cells averages to its cell of the output, and past 1 it is 1
    a, b = torch.meshgrid(torch.arange(4.0), torch.arange(5.0), indexing="ij")
    sv = (0.1 * a - 0.05 * b + 0.2)[None]
    up = planes(torch.zeros(1, 16, 20), sv, torch.tensor([20]))[0][0]
    for i in (1, 2):
        for j in (1, 2, 3):
            assert up[4 * i:4 * i + 4, 4 * j:4 * j + 4].mean() == pytest.approx(float(sv[0, i, j]), abs=1e-5)
    assert planes(torch.zeros(1, 5, 7), torch.full((1, 2, 2), 3.0), torch.tensor([7]))[0][0].min() == 1.0
    # with one pooling, each 2 x 2 block
    up = planes(torch.zeros(1, 8, 10), sv, torch.tensor([10]), stride=2)[0][0]
    assert up.shape == (8, 10)
    assert up[2:4, 4:6].mean() == pytest.approx(float(sv[0, 1, 2]), abs=1e-5)
    fine = Comparator(ViSiL(ViSiLConfig(dim=32, pools=1)).eval())
    assert all(p.shape == (2, 13, len(r)) for r, p in zip(refs, fine.compare(list(q), refs)[1]))
    # weights without the CNN have no refined map to give
    with pytest.raises(ValueError, match="comparator CNN"):
        Comparator(ViSiL(ViSiLConfig(dim=32, comparator=False))).compare(list(q), refs)


def test_weights_round_trip(tmp_path):
    m = ViSiL(ViSiLConfig(dim=16))
    with torch.no_grad():
        m.context.add_(1.0)
    save(m, tmp_path / "v.pt")
    back = load(tmp_path / "v.pt")
    assert back.cfg == m.cfg
    for a, b in zip(m.state_dict().values(), back.state_dict().values()):
        assert torch.equal(a, b)
    rng = np.random.default_rng(2)
    q = [unit(rng.normal(size=(8, 9, 16)))]
    s = Comparator(back).scores(q, [unit(rng.normal(size=(n, 9, 16))) for n in (4, 7)])
    assert s.shape == (2,) and np.isfinite(s).all()


def _copy_world(rng, n_refs=12, dim=32):
    """References of random region vectors; each query copies 6-10 keyframes of one of them
    (with noise) inside keyframes of another; the other references are its hard negatives."""
    refs = {f"r{i}": unit(rng.normal(size=(int(rng.integers(12, 20)), 9, dim))) for i in range(n_refs)}
    names = list(refs)
    queries = []
    for k in range(16):
        src, filler = rng.choice(names, 2, replace=False)
        a = int(rng.integers(0, 4))
        n = int(rng.integers(6, 10))
        body = unit(refs[src][a:a + n] + 0.15 * rng.normal(size=refs[src][a:a + n].shape))
        pad = unit(refs[filler][:3] + 2.0 * rng.normal(size=(3, 9, dim)))
        regions = np.concatenate([pad, body, pad])[None]
        times = np.arange(len(regions[0]), dtype=float)
        queries.append(QueryPairs(f"q{k}", regions, times, positives={src: [(3.0, 3.0 + n - 1)]},
                                  negatives=[r for r in names if r != src], candidates=names))
    return queries, refs


def test_training_separates_copies_from_hard_negatives():
    rng = np.random.default_rng(3)
    queries, refs = _copy_world(rng)
    torch.manual_seed(0)
    model = ViSiL(ViSiLConfig(dim=32))
    before = pair_metrics(queries, scores(model.eval(), queries, refs))["pair_ap"]
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for step in range(60):
        model.train()
        opt.zero_grad()
        loss = sum(triplet_loss(model, queries[i], refs, rng, 4, 0.5, 0.1) for i in rng.integers(16, size=4)) / 4
        loss.backward()
        opt.step()
    after = pair_metrics(queries, scores(model.eval(), queries, refs))["pair_ap"]
    assert after > before + 0.1 and after > 0.8, (before, after)


def test_temporal_edits_keep_part_of_the_copied_span():
    rng = np.random.default_rng(4)
    times = np.arange(30, dtype=float)
    q = QueryPairs("q", np.zeros((1, 30, 9, 4), np.float32), times)
    for _ in range(200):
        rows = temporal_edit(q, [(10.0, 14.0)], rng)
        assert len(rows) and rows.min() >= 0 and rows.max() < 30
        assert ((times[rows] >= 10) & (times[rows] <= 14)).sum() >= 1


def test_training_keeps_held_out_footage_aside_even_as_negatives():
    from segscan.bench.pairs import keep_aside

    copies_held = QueryPairs("q1", np.zeros((1, 4, 9, 4), np.float32), np.arange(4.0),
                             positives={"a": [(0.0, 3.0)]}, candidates=["a", "b", "c"])
    copies_other = QueryPairs("q2", np.zeros((1, 4, 9, 4), np.float32), np.arange(4.0),
                              positives={"b": [(0.0, 3.0)]}, candidates=["a", "b", "c"])
    keep_aside(copies_held, {"a"})
    keep_aside(copies_other, {"a"})
    assert copies_held.held_out and copies_held.negatives == ["b", "c"]
    assert not copies_other.held_out and copies_other.negatives == ["c"]


def test_a_split_divides_into_what_training_may_learn_and_the_held_out_choice_set():
    from segscan.bench.splits import QueryMaps, Split, divide
    from segscan.corpus import held_out_group

    # a query copying nothing is kept aside when its id hashes so
    ids = [f"n{i}" for i in range(20)]
    aside_id, kept_id = next(i for i in ids if held_out_group(i)), next(i for i in ids if not held_out_group(i))
    qids = ["q1", "q2", "q3", aside_id, kept_id]
    split = Split([QueryMaps(q, 10.0, [], 0.0) for q in qids],
                  labels={"q1-a": [[0, 0, 3, 3]], "q2-b": [[0, 0, 3, 3]], "q3-a": [[1, 1, 2, 2]], "q3-b": [[4, 4, 6, 6]]},
                  pair_edits={"q1-a": {"crop"}, "q2-b": {"flip"}, "q3-a": {"crop"}, "q3-b": {"blur"}}, neg_weight=2.0)
    learn, aside = divide(split, {"a"})
    assert [q.qid for q in learn.queries] == ["q2", kept_id]
    assert [q.qid for q in aside.queries] == ["q1", "q3", aside_id]  # q3 copies held-out footage too
    assert set(learn.labels) == {"q2-b"} and set(aside.labels) == {"q1-a", "q3-a", "q3-b"}
    assert set(aside.pair_edits) == set(aside.labels) and learn.neg_weight == aside.neg_weight == 2.0


def test_leaving_a_fold_out_drops_its_footage_as_anchor_and_as_negative():
    from segscan.train.visil import leave_fold, parse_fold

    folds = {"a": 0, "b": 1, "c": 1}
    mk = lambda qid, pos, held=False: QueryPairs(qid, np.zeros((1, 4, 9, 4), np.float32), np.arange(4.0),
                                                 positives={r: [(0.0, 3.0)] for r in pos},
                                                 negatives=[r for r in "abc" if r not in pos], held_out=held)
    in_fold, other, both, held = mk("q1", "a"), mk("q2", "b"), mk("q3", "ab"), mk("q4", "a", held=True)
    leave_fold([in_fold, other, both, held], folds, 0)
    assert not in_fold.positives and not both.positives  # no anchor touches fold 0
    assert list(other.positives) == ["b"] and other.negatives == ["c"]  # nor does any negative
    assert list(held.positives) == ["a"] and held.negatives == ["b", "c"]  # the checkpoint's set is as it was
    assert parse_fold("1/3") == (1, 3)
    for bad in ("2/2", "0/1", "x"):
        with pytest.raises(Exception):
            parse_fold(bad)


def test_a_query_takes_the_fold_of_the_footage_it_copies():
    from segscan.bench.splits import query_fold
    from segscan.corpus import group_fold, held_out_group

    groups = [f"g{i}" for i in range(200)]
    assert {group_fold(g, 2) for g in groups} == {0, 1}
    # the folds are drawn apart from the held-out fifth: both folds hold held-out groups
    assert {group_fold(g, 2) for g in groups if held_out_group(g)} == {0, 1}
    assert query_fold("q", {"a", "b"}, {"a": 1, "b": 0}, 2) == 0
    assert query_fold("q", {"a"}, {"a": 1, "b": 0}, 2) == 1
    assert query_fold("n7", (), {}, 2) == group_fold("n7", 2)


def test_a_comparator_can_be_named_by_its_weights_file(tmp_path):
    import segscan.compare as compare

    save(ViSiL(ViSiLConfig(dim=16)), tmp_path / "fold.pt")
    comp = compare.get_comparator(str(tmp_path / "fold.pt"), "any")
    assert comp.model.cfg.dim == 16
    with pytest.raises(ValueError, match="unknown comparator"):
        compare.get_comparator("nonsense", "any")
