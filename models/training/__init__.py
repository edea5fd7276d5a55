"""Training pieces shared by every stage, each swappable on its own:

| module | what |
| --- | --- |
| `stages.py` | the stage plug-ins, found by name |
| `loop.py` | `TrainerConfig` and the one training loop (`train_loop`) |
| `ray_runner.py` / `local_runner.py` | the runtimes the loop runs in: Ray Train, or this process without Ray |
| `accelerator.py` | device, bf16 autocast, fused AdamW, batch transfer, torch.compile |
| `data.py` / `batches.py` | examples read by Ray Data or plain pyarrow; in-memory shuffled batches |
| `checkpoint.py` | safe checkpoints (tensors and plain data, `weights_only=True`) |
| `schedule.py` | learning-rate schedules |
| `metrics_log.py` | rank 0's metrics to MLflow and the console |
| `session.py` | the driver: data, runner, MLflow artifacts |
"""
