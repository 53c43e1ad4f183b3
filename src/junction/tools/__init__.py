"""Server-side tools: one abstract class (:mod:`junction.tools.base`), one module per
tool family, registered by the wire tool type they implement."""
