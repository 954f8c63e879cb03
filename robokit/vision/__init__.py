"""Images from cameras to policies: one pipeline for simulated and real frames."""
