"""Stage 2, the kernel MMD between two persistence samples: bandwidth, rescaling, weights, the moments by the
direct sums (a backend's kernel) or the Fourier method, and the assembly of value and gradients."""
