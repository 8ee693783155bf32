"""NTU RGB+D training: skeleton parsing, dataset generation, synthetic data, trainer, evaluation."""
