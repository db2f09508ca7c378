"""Checkout paths of the shipped configs (``jaxstyle/configs/``): ``--config configs/<method>.py[:variant]``."""
