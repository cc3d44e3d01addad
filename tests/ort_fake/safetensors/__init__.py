"""A stand-in for safetensors (numpy.py here), for peer-onnxruntime.py."""
