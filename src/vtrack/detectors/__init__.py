"""Object detectors: Ultralytics YOLO detect/segment models exported to ONNX, run with onnxruntime.

``YoloOnnxDetector`` implements the ``Detector`` protocol; ``export_model``/``resolve_model`` turn
``.pt`` checkpoints or official names into ONNX files (needs the ``export`` extra).
"""

from vtrack.detectors.base import Detector
from vtrack.detectors.export import export_model, resolve_model
from vtrack.detectors.onnx_yolo import YoloOnnxDetector, class_ids_for_names

__all__ = ["Detector", "YoloOnnxDetector", "class_ids_for_names", "export_model", "resolve_model"]
