"""Checkpoint → deployable model files with a manifest and a parity check against PyTorch."""
