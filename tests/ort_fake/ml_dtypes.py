"""A stand-in for ml_dtypes: peer-onnxruntime.py only imports it."""
