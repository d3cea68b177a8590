"""Model loading: local folders, hub ids (offline here), GGUF paths; failures are one line."""

from __future__ import annotations

import pytest

from emergence_law.measure.models import ModelCache, ModelLoadError, load_model

pytest.importorskip("torch")
pytest.importorskip("transformers")


def test_local_folder_loads_in_eval_mode(tiny_lm):
    lm = load_model(tiny_lm)
    model, tok = lm  # unpacks like a pair
    assert not model.training and lm.n_params == sum(p.numel() for p in model.parameters())
    assert tok.pad_token_id is not None


def test_hub_id_without_hub_is_a_one_line_error():
    # local_files_only: no network here; the message says what and which revision
    with pytest.raises(ModelLoadError, match=r"EleutherAI/pythia-70m \(revision step1000\)"):
        load_model("EleutherAI/pythia-70m", revision="step1000", local_files_only=True)


def test_missing_paths_and_bad_gguf(tmp_path):
    with pytest.raises(ModelLoadError, match="folder not found"):
        load_model(tmp_path / "nope")
    with pytest.raises(ModelLoadError, match="GGUF file not found"):
        load_model(tmp_path / "model.gguf")
    (tmp_path / "weights.bin").write_text("x")
    with pytest.raises(ModelLoadError, match="expected a model folder or a .gguf file"):
        load_model(tmp_path / "weights.bin")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ModelLoadError, match="cannot be loaded"):
        load_model(empty)


def test_cache_reuses_the_same_checkpoint(tiny_lm):
    cache = ModelCache()
    a = cache.get(str(tiny_lm))
    assert cache.get(str(tiny_lm)) is a
    assert cache.get(str(tiny_lm), dtype="float32") is not a
