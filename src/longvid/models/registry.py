"""The model-family registry: ``create_family``, ``get_family``, ``list_families``, ``family_for_config``.

Importing this module registers the built-in families (``longva``, ``longvu``); third parties
register theirs with :func:`~longvid.models.family.register_family` (see docs/models.md).
"""

from __future__ import annotations

from longvid.errors import ModelLoadError
from longvid.models.family import FAMILIES, ModelFamily, register_family
from longvid.models.longva import family as _longva  # noqa: F401  (registers the family)
from longvid.models.longvu import family as _longvu  # noqa: F401


def get_family(name: str) -> type[ModelFamily]:
    """The registered family class; unknown names raise ``KeyError`` listing the known ones."""
    return FAMILIES.get(name)


def create_family(name: str, /, **options) -> ModelFamily:
    return FAMILIES.create(name, **options)


def list_families() -> list[str]:
    return FAMILIES.list()


def family_for_config(raw: dict, where: str = "config.json") -> ModelFamily:
    """The family that claims ``raw["model_type"]``; none, or more than one, is a ModelLoadError."""
    mt = raw.get("model_type")
    claims = {name: get_family(name).model_types for name in list_families()}
    owners = [name for name, types in claims.items() if mt in types]
    if len(owners) == 1:
        return create_family(owners[0])
    if owners:
        raise ModelLoadError(f"{where}: model_type {mt!r} is claimed by several model families: {', '.join(owners)}")
    known = ", ".join(sorted(t for types in claims.values() for t in types))
    raise ModelLoadError(f"{where}: model_type {mt!r} is not a model of any registered family "
                         f"({', '.join(claims)}); known model types: {known}")


def as_family(family: str | ModelFamily | None, raw: dict, where: str) -> ModelFamily:
    """A family object from a name, an object, or (None) the config's model_type."""
    if family is None:
        return family_for_config(raw, where)
    return create_family(family) if isinstance(family, str) else family


__all__ = ["FAMILIES", "ModelFamily", "as_family", "create_family", "family_for_config", "get_family",
           "list_families", "register_family"]
