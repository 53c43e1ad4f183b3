"""Webhooks: outbox rows written with the event, signing (Standard Webhooks for static
endpoints, RS256 JWTs for per-request ones), SSRF-safe delivery with retries."""
