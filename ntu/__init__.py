"""Facts of the NTU RGB+D datasets: the 25-joint skeleton, sample names and benchmark splits,
label sets. Plain Python: importable by numpy-only code and by every package above it."""
