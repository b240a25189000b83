"""Model plugin flm_cnn (being written)."""
