"""The Decisions API: calibrated answers to classification questions over one input."""
