"""The motion tokenizer (UniMo's motion VQ-VAE), in one folder:

| module | what |
| --- | --- |
| `model.py` | the network: conv encoder, one codebook, expert decoders |
| `augment.py` | training-time augmentation (mirroring, arm mixing) |
| `data.py` | motion windows from shards or corpora (Ray Data or plain pyarrow) |
| `stage.py` | training: config, losses, validation metrics, the stage plug-in |
| `api.py` | inference: SMPL to tokens and back, from a checkpoint or an MLflow run |
| `evaluation.py` | held-out evaluation (unseen procedural motion, held-out real mocap) |
"""
