"""UniMo models: tokenizers and the autoregressive transformer."""
