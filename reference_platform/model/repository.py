"""A Triton model repository on disk: ROOT/<model>/config.pbtxt, configs/local-cpu.pbtxt and
ROOT/<model>/<version>/{model.onnx, metadata.json}.

Versions are positive integers; registering writes into a temporary folder and renames it into
place, so a reader never sees a half-written version.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from reference_platform.model import MODEL_NAME, REPOSITORY

CONFIG = "config.pbtxt"
"""Triton's default model config: Triton's own onnxruntime backend on a GPU (the official image)."""
LOCAL_CONFIG = "configs/local-cpu.pbtxt"
"""The local overlay (`tritonserver --model-config-name=local-cpu`): the same model on a CPU Python backend."""


class ModelRepository:
    def __init__(self, root: Path = REPOSITORY, model: str = MODEL_NAME) -> None:
        self.root = root
        self.model = model

    @property
    def folder(self) -> Path:
        return self.root / self.model

    def versions(self) -> list[int]:
        if not self.folder.exists():
            return []
        return sorted(int(p.name) for p in self.folder.iterdir() if p.name.isdigit() and (p / "model.onnx").exists())

    def latest(self) -> int | None:
        versions = self.versions()
        return versions[-1] if versions else None

    def path(self, version: int) -> Path:
        path = self.folder / str(version) / "model.onnx"
        if not path.exists():
            raise FileNotFoundError(f"{self.model} version {version} is not in {self.folder} (has {self.versions()})")
        return path

    def metadata(self, version: int) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.folder / str(version) / "metadata.json").read_text())
        return data

    def register(self, onnx_file: Path, metadata: dict[str, Any]) -> int:
        """Add `onnx_file` as the next version; return it. A new repository gets the packaged model configs."""
        self.folder.mkdir(parents=True, exist_ok=True)
        for name in (CONFIG, LOCAL_CONFIG):
            packaged = REPOSITORY / self.model / name
            if not (self.folder / name).exists() and packaged != self.folder / name:
                (self.folder / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(packaged, self.folder / name)
        version = (self.latest() or 0) + 1
        staging = Path(tempfile.mkdtemp(prefix=f".{version}-", dir=self.folder))
        try:
            shutil.copyfile(onnx_file, staging / "model.onnx")
            meta = {"version": version, "model": self.model, **metadata}
            (staging / "metadata.json").write_text(json.dumps(meta, indent=2) + "\n")
            staging.rename(self.folder / str(version))
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return version
