"""Shift-GCN: the network, its input conventions and checkpoints."""
