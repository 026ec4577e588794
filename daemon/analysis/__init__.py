"""One photo's analysis: reading and hashing, decoding (imaging), the analyzer chain, the hard-face
searches, the ONNX models (vision/)."""
