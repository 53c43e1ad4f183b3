"""The runtime: the run loop, its journal (step and event log), live fan-out, and the
registry of runs in this process."""
