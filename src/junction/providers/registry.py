"""Model routing: ``provider/model`` ids, bare ``gemini-*`` names, and configured aliases
map to a configured provider instance and a provider-local model name."""

from __future__ import annotations

import importlib

from junction.config import Settings
from junction.errors import BadRequest
from junction.providers.base import Provider, provider_class

# The built-in dialects; importing a module registers its provider kind.
BUILTIN_MODULES = ("offline", "openai", "anthropic", "gemini")


def load_builtin_providers() -> None:
    for name in BUILTIN_MODULES:
        try:
            importlib.import_module(f"junction.providers.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"junction.providers.{name}":
                raise


class ProviderRouter:
    def __init__(self, settings: Settings) -> None:
        load_builtin_providers()
        self.settings = settings
        self._instances: dict[str, Provider] = {}

    def provider(self, name: str) -> Provider:
        instance = self._instances.get(name)
        if instance is None:
            config = self.settings.providers.get(name)
            if config is None:
                known = ", ".join(sorted(self.settings.providers))
                raise BadRequest(
                    f"unknown provider '{name}' (configured providers: {known}); "
                    "add it under [providers.NAME] in junction.toml"
                )
            instance = provider_class(config.kind)(config, self.settings)
            self._instances[name] = instance
        missing = instance.missing_settings()
        if missing:
            raise BadRequest(f"provider '{name}' is not configured: {missing}")
        return instance

    def resolve(self, model: str) -> tuple[Provider, str]:
        """Return the provider and provider-local model name for a model id."""
        target = self.settings.aliases.get(model, model)
        target = target.removeprefix("models/")
        if "/" in target:
            name, _, local = target.partition("/")
            if not local:
                raise BadRequest(f"model '{model}' names no model after '{name}/'")
            return self.provider(name), local
        if target.startswith(("gemini-", "gemma-")):
            return self.provider("gemini"), target
        raise BadRequest(
            f"unknown model '{model}': use 'provider/model' (e.g. 'openai/gpt-4.1-mini', "
            "'offline/echo'), a gemini-* name, or an alias from [aliases] in junction.toml"
        )

    async def aclose(self) -> None:
        for instance in self._instances.values():
            await instance.aclose()
