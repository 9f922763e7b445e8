"""nonlinearity."""
