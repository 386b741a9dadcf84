"""The copy-descriptor training pieces and the descriptor benchmark's metric."""
import numpy as np
import pytest
import torch
from PIL import Image

from segscan.bench.descriptor import EDITS, edit, micro_ap
from segscan.train.augment import copy_view
from segscan.train.descriptor import CopyDescriptor, NegativeMemory, info_nce_koleo


def _picture(seed, size=96):
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)
    return Image.fromarray(small).resize((size, size), Image.NEAREST)


def test_copy_views_are_square_uint8_and_differ():
    rng = np.random.default_rng(0)
    a, b = copy_view(_picture(1), _picture(2), rng, 64), copy_view(_picture(1), _picture(2), rng, 64)
    assert a.shape == b.shape == (64, 64, 3) and a.dtype == np.uint8
    assert np.abs(a.astype(int) - b).mean() > 1  # two independent draws are two different edits


def test_info_nce_prefers_matching_views():
    g = torch.Generator().manual_seed(0)
    a = torch.nn.functional.normalize(torch.randn(16, 32, generator=g), dim=1)
    near = torch.nn.functional.normalize(a + 0.05 * torch.randn(16, 32, generator=g), dim=1)
    far = torch.nn.functional.normalize(torch.randn(16, 32, generator=g), dim=1)
    l_near, m_near = info_nce_koleo(a, near, 0.05, 0.0)
    l_far, _ = info_nce_koleo(a, far, 0.05, 0.0)
    assert float(l_near) < float(l_far) and m_near["top1"] == 1.0
    # KoLeo ignores the positive: collapsing the negatives together raises it
    same = torch.nn.functional.normalize(torch.ones(16, 32) + 0.01 * torch.randn(16, 32, generator=g), dim=1)
    assert info_nce_koleo(same, same, 0.05, 1.0)[1]["koleo"] > info_nce_koleo(a, near, 0.05, 1.0)[1]["koleo"]


def test_memory_negatives_raise_the_loss_and_skip_the_own_group():
    g = torch.Generator().manual_seed(1)
    a = torch.nn.functional.normalize(torch.randn(8, 32, generator=g), dim=1)
    b = torch.nn.functional.normalize(a + 0.3 * torch.randn(8, 32, generator=g), dim=1)
    groups = np.arange(8)
    mem = NegativeMemory(size=12, dim=32)
    mem.push(torch.cat([a, b]), np.concatenate([groups, groups]))  # 16 pushed, the newest 12 kept
    assert len(mem.z) == 12 and list(mem.groups[:8]) == list(range(8))
    plain = float(info_nce_koleo(a, b, 0.1, 0.0)[0])
    # the memory holds the batch's own views: unmasked they are near-positives and cost a lot
    z, same = mem.negatives(groups)
    assert same.shape == (8, 12) and int(same.sum()) == 12
    masked = float(info_nce_koleo(a, b, 0.1, 0.0, z, same)[0])
    unmasked = float(info_nce_koleo(a, b, 0.1, 0.0, z, torch.zeros_like(same))[0])
    assert plain <= masked + 1e-6 < unmasked
    # unrelated memory entries are extra negatives: the loss can only grow
    other = torch.nn.functional.normalize(torch.randn(12, 32, generator=g), dim=1)
    assert float(info_nce_koleo(a, b, 0.1, 0.0, other, torch.zeros(8, 12, dtype=torch.bool))[0]) > plain


def test_only_the_later_stages_train():
    model = CopyDescriptor()
    frozen = [p.requires_grad for p in model.net.stem.parameters()] + [
        p.requires_grad for s in model.net.stages[:model.frozen] for p in s.parameters()]
    assert frozen and not any(frozen)
    assert all(p.requires_grad for p in model.net.stages[-1].parameters())
    model.train()
    assert not model.net.stem.training and model.net.stages[-1].training
    state = model.backbone_state()
    assert state and all(k.startswith(tuple(f"stages.{i}." for i in range(model.frozen, 7))) for k in state)


def test_exported_descriptor_is_what_the_pipeline_computes(tmp_path, monkeypatch):
    """The weights a run exports, loaded as the copydesc-lite0 backbone with its whitening
    file, give the pipeline the very vectors the trained model gives."""
    import segscan.pipeline.features as features
    import segscan.train.descriptor as desc
    from segscan.pipeline.features import FeatureExtractor

    model = CopyDescriptor()  # initialised from the shipped PCA whitening, before the folder moves
    monkeypatch.setattr(features, "WEIGHTS_DIR", tmp_path)
    monkeypatch.setattr(desc, "WEIGHTS_DIR", tmp_path)
    with torch.no_grad():  # move the later stages and the projection away from their start
        for p in model.net.stages[-1].parameters():
            p.add_(0.01 * torch.randn_like(p))
        model.proj.mul_(1.1)
    model.eval()
    state = {"args": {"size": 64, "batch": 2, "lr": 0.0, "temperature": 0.05, "koleo": 0.0, "fps": 1.0},
             "data": "test", "step": 0, "seconds": 0.0, "history": []}
    desc.export(model, [], state)
    images = np.stack([np.asarray(_picture(s, 224)) for s in range(3)])
    with torch.no_grad():
        want = model(torch.from_numpy(images).permute(0, 3, 1, 2).float()).numpy()
    got, regions = FeatureExtractor("copydesc-lite0")(images)
    # the shipped stages are half precision: the same vectors up to rounding
    assert (got * want).sum(1).min() > 0.9995
    np.testing.assert_allclose(got, want, atol=5e-3)
    assert regions.shape == (3, 9, 256)


def test_micro_ap_pools_every_query():
    # two true pairs; a negative query's result outranks the second true pair
    scores = np.array([0.9, 0.8, 0.7])
    correct = np.array([True, False, True])
    assert micro_ap(scores, correct, 2) == pytest.approx((1 + 2 / 3) / 2)
    assert micro_ap(scores, correct, 4) == pytest.approx((1 + 2 / 3) / 4)  # a missed pair counts


@pytest.mark.parametrize("kind", EDITS)
def test_every_generator_edit_keeps_the_picture_size(kind):
    img = np.asarray(_picture(3, 64))
    out = edit(img, kind, np.asarray(_picture(4, 64)), seed=1)
    assert out.shape == img.shape and out.dtype == np.uint8


def test_a_new_run_can_start_from_the_shipped_weights():
    from segscan.pipeline.features import FeatureExtractor
    from segscan.train.descriptor import load_shipped

    model = CopyDescriptor()
    load_shipped(model)
    model.eval()
    images = np.stack([np.asarray(_picture(s, 224)) for s in range(2)])
    with torch.no_grad():
        want = model(torch.from_numpy(images).permute(0, 3, 1, 2).float()).numpy()
    got = FeatureExtractor("copydesc-lite0")(images)[0]
    assert (got * want).sum(1).min() > 0.9995


def test_hard_batches_hold_clusters_of_groups_that_look_alike(tmp_path):
    """Lookalikes are found under the model (each picture's nearest other group is its
    brightened twin), and a hard batch draws them together, every group still once."""
    from PIL import ImageEnhance

    from segscan.train.descriptor import mine_near
    from segscan.train.pictures import Pictures

    paths = []
    for i in range(12):  # six pairs: a picture and the same picture a shade brighter
        img = _picture(100 + i // 2, size=128)
        if i % 2:
            img = ImageEnhance.Brightness(img).enhance(1.15)
        paths.append(tmp_path / f"p{i}.png")
        img.save(paths[-1])
    pics = Pictures(paths, [], fps=1.0)
    assert pics.n_groups == 12
    rng = np.random.default_rng(0)
    near = mine_near(CopyDescriptor(), pics, 96, 3, rng)
    assert near.shape == (12, 3) and [int(near[i][0]) for i in range(12)] == [i ^ 1 for i in range(12)]
    groups = pics.draw_groups(rng, 8, near, share=0.5)
    assert len(set(groups.tolist())) == 8
    assert groups[:4].tolist() == [int(groups[0]), *near[groups[0]][:3].tolist()]
    assert len(set(pics.draw_groups(rng, 12).tolist())) == 12  # no clusters: random distinct groups
