"""Drop-in shims for scripts written against other trackers (``import starlab.compat.wandb as wandb``)."""
