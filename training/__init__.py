"""Training side (torch): model, data, loss, loops, QAT. Never imported by the on-device runtime."""
