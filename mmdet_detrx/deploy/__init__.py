"""Deployment helpers: ONNX export of DETR-family detectors (:mod:`.onnx_export`, needs ``onnx`` and
``onnxruntime`` from requirements/deploy.txt) and NumPy pre/post-processing (:mod:`.preprocess`)."""
