"""Evaluate a checkpoint or run on a test file: task metrics, worst examples, saved reports."""
