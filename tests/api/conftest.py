"""Fixtures the API tests share: the Anthropic and Gemini wire-format fakes, one per test
module (the OpenAI fake is session-wide, in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from junction.testing.fake_anthropic import FakeAnthropic
from junction.testing.fake_gemini import FakeGemini


@pytest.fixture(scope="module")
def anthropic() -> Iterator[FakeAnthropic]:
    fake = FakeAnthropic().start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def gemini() -> Iterator[FakeGemini]:
    fake = FakeGemini().start()
    yield fake
    fake.stop()
