"""Stage 3, PPM-Reg: every draw of a call, persistence and MMD per homology dimension, the VJP back to both
clouds, results in the caller's dtype (the whole device part captured as one CUDA graph on CuPy)."""
