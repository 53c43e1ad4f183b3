"""Test doubles shipped with the package: fake model-provider servers that speak each
provider's real wire format on loopback (used by the test suite and the benchmarks)."""
