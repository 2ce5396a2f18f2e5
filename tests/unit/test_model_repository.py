"""The model repository is a standard Triton one: Triton's own onnxruntime backend config, a local overlay
that differs only where documented, and a model file whose tensors match both."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

from reference_platform.model import INPUT_NAME, MODEL_NAME, ONNX_PATH, OUTPUT_NAME, REPOSITORY
from reference_platform.model.repository import CONFIG, LOCAL_CONFIG, ModelRepository
from reference_platform.replica import BACKENDS, render_config

FOLDER = REPOSITORY / MODEL_NAME


def _parse(path: Path) -> model_config_pb2.ModelConfig:
    return text_format.Parse(path.read_text(), model_config_pb2.ModelConfig())


def test_the_default_config_is_for_tritons_onnxruntime_backend_on_a_gpu() -> None:
    config = _parse(FOLDER / CONFIG)
    assert config.name == MODEL_NAME and config.backend == "onnxruntime"
    assert [g.kind for g in config.instance_group] == [model_config_pb2.ModelInstanceGroup.KIND_GPU]
    assert config.HasField("dynamic_batching") and len(config.model_warmup) == 1


def test_the_local_overlay_differs_only_in_backend_instances_delay_and_threads() -> None:
    default, local = _parse(FOLDER / CONFIG), _parse(FOLDER / LOCAL_CONFIG)
    assert local.backend == "onnxruntime_python" and (BACKENDS / local.backend / "model.py").exists()
    assert [g.kind for g in local.instance_group] == [model_config_pb2.ModelInstanceGroup.KIND_CPU]
    for field in ("name", "max_batch_size", "input", "output", "model_warmup"):
        assert getattr(local, field) == getattr(default, field), field
    assert local.HasField("dynamic_batching")


def test_the_onnx_file_has_the_configured_tensors() -> None:
    graph = onnx.load(str(ONNX_PATH)).graph
    (inp,), (out,) = graph.input, graph.output
    assert (inp.name, out.name) == (INPUT_NAME, OUTPUT_NAME)
    dims = [d.dim_value or d.dim_param for d in inp.type.tensor_type.shape.dim]
    config = _parse(FOLDER / CONFIG)
    assert dims[1:] == list(config.input[0].dims) and isinstance(dims[0], str)  # a dynamic batch dimension
    assert inp.type.tensor_type.elem_type == onnx.TensorProto.UINT8


@pytest.mark.parametrize("delay", [0, 250, None])
def test_a_replica_renders_its_settings_into_the_overlay(delay: int | None) -> None:
    text = render_config((FOLDER / LOCAL_CONFIG).read_text(), 3, 8, delay, 2)
    config = text_format.Parse(text, model_config_pb2.ModelConfig())
    assert list(config.version_policy.specific.versions) == [3]
    assert config.max_batch_size == 8
    assert config.parameters["intra_op_thread_count"].string_value == "2"
    if delay is None:
        assert not config.HasField("dynamic_batching")
    else:
        assert config.dynamic_batching.max_queue_delay_microseconds == delay


def test_a_new_repository_gets_the_model_configs(tmp_path: Path) -> None:
    repo = ModelRepository(tmp_path)
    assert repo.register(ONNX_PATH, {"note": "test"}) == 1
    assert (tmp_path / MODEL_NAME / CONFIG).read_text() == (FOLDER / CONFIG).read_text()
    assert (tmp_path / MODEL_NAME / LOCAL_CONFIG).read_text() == (FOLDER / LOCAL_CONFIG).read_text()
    assert repo.versions() == [1]
