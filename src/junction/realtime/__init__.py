"""Realtime model APIs (OpenAI Realtime, Gemini Live) behind one seam (:mod:`.base`)."""
