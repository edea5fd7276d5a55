"""UniMo, the autoregressive model over one sequence of video and motion tokens, in one folder:

| module | what |
| --- | --- |
| `vocabulary.py` | special, task, video and motion ids as ranges of one vocabulary |
| `layout.py` | where each token sits in the sequence, per task (I2VM, V2M, M2V) |
| `model.py` | the transformer: RoPE, causal SDPA, static KV cache, a head per modality |
| `sampling.py` | batched sampling with the KV cache, constrained by modality, with guidance |
| `data.py` | token shards, split by source video; which tokenizers made them |
| `stage.py` | training: task mixture, condition dropout, per-task validation, the plug-in |
| `api.py` | inference from a checkpoint or MLflow run |
| `evaluation.py` | per-task perplexity against a unigram baseline |
"""
