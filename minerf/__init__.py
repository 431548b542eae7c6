"""MI-NeRF: one dynamic face NeRF for many identities, and the preprocessing that feeds it."""

__version__ = "0.1.0"
