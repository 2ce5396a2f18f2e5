"""The quality-control model: procedurally generated part images and a CNN defect classifier."""

from pathlib import Path

MODEL_DIR = Path(__file__).resolve().parent
REPOSITORY = MODEL_DIR / "repository"
"""The model repository: REPOSITORY/<model>/<version>/model.onnx plus metadata.json."""
MODEL_NAME = "qc_cnn"
ONNX_PATH = REPOSITORY / MODEL_NAME / "1" / "model.onnx"
"""Version 1, the committed model."""
SAMPLES_PATH = MODEL_DIR / "samples.npy"
INPUT_NAME = "images"
OUTPUT_NAME = "probs"
IMAGE_SIZE = 64
CLASSES = ("ok", "defect")
