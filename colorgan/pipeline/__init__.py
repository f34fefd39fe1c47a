"""From a photo to its colour: the Colorizer, ONNX export/runtime, the temporal stabiliser."""
