"""Training pieces shared by every stage: checkpointing, schedule, data, and the Ray Train
loop. A stage supplies its model, loss and validation metrics (`Stage`), not its own loop."""
