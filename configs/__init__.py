"""Training configs: ``python train.py --config configs/<method>.py[:variant]`` (variants: tiny, cpu, paper)."""
