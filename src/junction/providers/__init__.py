"""Model providers: one abstract class (:mod:`junction.providers.base`), one module per
wire dialect, registered by name. The core never imports a concrete provider."""
