"""Model plugin unisrec (being written)."""
