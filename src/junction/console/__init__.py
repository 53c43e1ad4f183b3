"""The web console: static pages served at ``/console`` and its one JSON route."""
