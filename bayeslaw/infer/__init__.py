"""Inference: the MAP start, one NUTS path and one batched HMC, sampler choice, the compiled-program cache, fit and fit_many, and the extrapolation-error calibration by nested refits."""
