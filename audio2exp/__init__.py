"""Speech to expression coefficients (LipNeRF-style audio-to-expression network)."""
