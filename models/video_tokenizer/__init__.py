"""The video tokenizer, in one folder:

| module | what |
| --- | --- |
| `model.py` | the network: causal (2+1)D conv autoencoder with FSQ |
| `data.py` | video clips from shards or corpora (Ray Data or plain pyarrow) |
| `metrics.py` | PSNR and SSIM of 8-bit frames |
| `stage.py` | training: config, losses, validation metrics, the stage plug-in |
| `api.py` | inference: frames to token ids and back; unimo checkpoints or Cosmos-style TorchScript |
"""
