"""Laws: the formula language, law files (TOML), priors, and the shipped catalogue. Lowest domain layer: a law knows nothing of data or inference."""
