"""The quality-control model: procedurally generated part images and a CNN defect classifier."""

from pathlib import Path

MODEL_DIR = Path(__file__).resolve().parent
ONNX_PATH = MODEL_DIR / "qc_cnn.onnx"
SAMPLES_PATH = MODEL_DIR / "samples.npy"
MODEL_NAME = "qc_cnn"
INPUT_NAME = "images"
OUTPUT_NAME = "probs"
IMAGE_SIZE = 64
CLASSES = ("ok", "defect")
