"""A Triton Python-based backend that runs a version's `model.onnx` in onnxruntime on CPU.

Triton loads this file for every model whose config says `backend: "onnxruntime_python"` (the local
overlay `configs/local-cpu.pbtxt`); it runs inside Triton's python-backend stub process, not in any
process of ours. It stands in for Triton's native onnxruntime backend, which the tritonserver bundled by
the nvidia-pytriton wheel lacks: the same model file, tensor names and dynamic batching. The stub ignores
PYTHONPATH, so the replica passes its interpreter's site-packages in RESILIENCE_SITE_PACKAGES.
"""

import json
import os
import sys

for _path in filter(None, os.environ.get("RESILIENCE_SITE_PACKAGES", "").split(os.pathsep)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402
import triton_python_backend_utils as pb_utils  # noqa: E402


class TritonPythonModel:
    def initialize(self, args: dict[str, str]) -> None:
        config = json.loads(args["model_config"])
        params = {k: v["string_value"] for k, v in config.get("parameters", {}).items()}
        self.input = config["input"][0]["name"]
        self.output = config["output"][0]["name"]
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = int(params.get("intra_op_thread_count", "1"))
        opts.inter_op_num_threads = 1
        path = os.path.join(args["model_repository"], args["model_version"], "model.onnx")
        self.session = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])

    def execute(self, requests: list) -> list:  # type: ignore[type-arg]
        """Run the dynamic batcher's requests as one onnxruntime call and split the output per request."""
        arrays = [pb_utils.get_input_tensor_by_name(r, self.input).as_numpy() for r in requests]
        probs = self.session.run(None, {self.input: np.concatenate(arrays) if len(arrays) > 1 else arrays[0]})[0]
        responses, start = [], 0
        for array in arrays:
            end = start + len(array)
            responses.append(
                pb_utils.InferenceResponse(output_tensors=[pb_utils.Tensor(self.output, probs[start:end])])
            )
            start = end
        return responses
