"""What a fit holds and gives back: the Fit (draws, predictions with the extrapolation error), convergence diagnostics, InferenceData export, saving and loading."""
