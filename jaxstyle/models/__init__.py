"""Style-transfer models: each module exposes ``default_config()`` and ``build(cfg, *, rngs, encoder=None)``."""
