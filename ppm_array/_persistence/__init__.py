"""Stage 1, persistence: drawing subsamples, the closed-form PH of each (through a backend's kernel), and its VJP."""
