"""HTTP only: routes, auth, SSE rendering and error mapping. No business logic here."""
