"""The model-family registry: ``create_family``, ``get_family``, ``list_families``, ``family_for_config``.

The built-in families (``longva``, ``longvu``) are imported on first lookup; third parties
register theirs with :func:`~longvid.models.family.register_family` or the ``longvid.families``
entry-point group (see docs/models.md).
"""

from __future__ import annotations

from longvid.errors import ModelLoadError
from longvid.models.family import FAMILIES, ModelFamily, register_family

get_family = FAMILIES.get  # the registered family class; unknown names raise KeyError listing the known ones
create_family = FAMILIES.create
list_families = FAMILIES.list


def family_for_config(raw: dict, where: str = "config.json") -> ModelFamily:
    """The family that claims ``raw["model_type"]``; none, or more than one, is a ModelLoadError."""
    mt = raw.get("model_type")
    claims = {name: get_family(name).model_types for name in list_families()}
    owners = [name for name, types in claims.items() if mt in types]
    if len(owners) > 1:  # a family may claim a shared model_type more specifically (Video-XL's beacon keys)
        prio = {n: getattr(get_family(n), "claim_priority", lambda r: 1)(raw) for n in owners}
        owners = [n for n in owners if prio[n] == max(prio.values()) and prio[n] > 0]
    if len(owners) == 1:
        return create_family(owners[0])
    if owners:
        raise ModelLoadError(f"{where}: model_type {mt!r} is claimed by several model families: {', '.join(owners)}")
    known = ", ".join(sorted({t for types in claims.values() for t in types}))
    raise ModelLoadError(f"{where}: model_type {mt!r} is not a model of any registered family "
                         f"({', '.join(claims)}); known model types: {known}")


def as_family(family: str | ModelFamily | None, raw: dict, where: str) -> ModelFamily:
    """A family object from a name, an object, or (None) the config's model_type."""
    if family is None:
        return family_for_config(raw, where)
    return create_family(family) if isinstance(family, str) else family


__all__ = ["FAMILIES", "ModelFamily", "as_family", "create_family", "family_for_config", "get_family",
           "list_families", "register_family"]
