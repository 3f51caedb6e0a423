"""Tags and bulk actions of the Things surface (THINGS.md): what a tag may be, which actions a bulk action runs,
and what each action's parameters must hold. Pure: the services apply them."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from cellplane.domain.errors import InvalidParameter

# A tag: 1 to 64 characters of letters, digits and `_ . : -` (URL-safe, so `?tag=` needs no escaping);
# at most 20 per Thing. Tags are case-sensitive.
TAG_PATTERN = re.compile(r"[A-Za-z0-9_.:\-]{1,64}")
MAX_TAGS = 20

ACTIONS = ("activate", "suspend", "retire", "moveToGroup", "addTags", "removeTags", "setServices", "lockIp", "unlockIp")
STATE_OF_ACTION = {"activate": "ACTIVE", "suspend": "SUSPENDED", "retire": "RETIRED"}
SELECTIONS = ("thingIds", "thingsGroupId", "tag")
MAX_THING_IDS = 100_000

QUEUED, RUNNING, COMPLETED, CANCELLED = "queued", "running", "completed", "cancelled"
OPEN = (QUEUED, RUNNING)
PENDING, SUCCEEDED, FAILED, SKIPPED = "pending", "succeeded", "failed", "cancelled"


def check_tag(value: Any, field: str) -> str:
    if not isinstance(value, str) or not TAG_PATTERN.fullmatch(value):
        raise InvalidParameter(field, f"{field} must be 1 to 64 letters, digits or _ . : - characters")
    return value


def check_tags(value: Any, field: str = "tags") -> list[str]:
    """A list of distinct valid tags, at most MAX_TAGS (order kept, duplicates dropped)."""
    if not isinstance(value, list):
        raise InvalidParameter(field, f"{field} must be a list of strings")
    tags = list(dict.fromkeys(check_tag(item, f"{field}[{index}]") for index, item in enumerate(value)))
    if len(tags) > MAX_TAGS:
        raise InvalidParameter(field, f"A Thing has at most {MAX_TAGS} tags")
    return tags


def merged_tags(current: Sequence[str], add: Sequence[str] = (), remove: Sequence[str] = ()) -> list[str]:
    """The tags after adding and removing; more than MAX_TAGS is refused naming `tags`."""
    result = [tag for tag in dict.fromkeys([*current, *add]) if tag not in set(remove)]
    if len(result) > MAX_TAGS:
        raise InvalidParameter("tags", f"A Thing has at most {MAX_TAGS} tags")
    return result


def check_action(value: Any) -> str:
    if value not in ACTIONS:
        raise InvalidParameter("action", f"action must be one of {', '.join(ACTIONS)}")
    return str(value)


def check_parameters(action: str, value: Any) -> dict[str, Any]:
    """The parameters an action needs, checked before anything is written (each named as `parameters.x`)."""
    parameters = {} if value is None else value
    if not isinstance(parameters, dict):
        raise InvalidParameter("parameters", "parameters must be an object")
    allowed = {
        "moveToGroup": {"thingsGroupId"},
        "addTags": {"tags"},
        "removeTags": {"tags"},
        "setServices": {"services"},
    }.get(action, set())
    for name in parameters:
        if name not in allowed:
            raise InvalidParameter(f"parameters.{name}", f"parameters.{name} is not a parameter of {action}")
    for name in sorted(allowed):
        if name not in parameters:
            raise InvalidParameter(f"parameters.{name}", f"{action} needs parameters.{name}")
    if action == "moveToGroup" and not isinstance(parameters["thingsGroupId"], str):
        raise InvalidParameter("parameters.thingsGroupId", "parameters.thingsGroupId must be a string")
    if action in ("addTags", "removeTags"):
        tags = check_tags(parameters["tags"], "parameters.tags")
        if not tags:
            raise InvalidParameter("parameters.tags", "parameters.tags must name at least one tag")
        parameters = {"tags": tags}
    if action == "setServices":
        services = parameters["services"]
        if not isinstance(services, dict) or not services or set(services) - {"data", "sms"}:
            raise InvalidParameter("parameters.services", "parameters.services must be an object with data and/or sms")
        for name, flag in services.items():
            if not isinstance(flag, bool):
                raise InvalidParameter(f"parameters.services.{name}", f"parameters.services.{name} must be a boolean")
    return dict(parameters)


def check_selection(value: Any) -> tuple[str, Any]:
    """Exactly one of thingIds (a non-empty list of ids or ICCIDs), thingsGroupId or tag."""
    if not isinstance(value, dict):
        raise InvalidParameter("selection", "selection must be an object with thingIds, thingsGroupId or tag")
    given = [name for name in value if value[name] is not None]
    unknown = [name for name in value if name not in SELECTIONS]
    if unknown:
        raise InvalidParameter(f"selection.{unknown[0]}", f"selection.{unknown[0]} is not a selection")
    if len(given) != 1:
        raise InvalidParameter("selection", "selection must give exactly one of thingIds, thingsGroupId or tag")
    kind = given[0]
    chosen = value[kind]
    if kind == "thingIds":
        if not isinstance(chosen, list) or not chosen or not all(isinstance(item, str) for item in chosen):
            raise InvalidParameter("selection.thingIds", "selection.thingIds must be a non-empty list of Thing ids")
        if len(chosen) > MAX_THING_IDS:
            raise InvalidParameter("selection.thingIds", f"selection.thingIds holds at most {MAX_THING_IDS} ids")
        return kind, list(dict.fromkeys(chosen))
    if kind == "tag":
        return kind, check_tag(chosen, "selection.tag")
    if not isinstance(chosen, str):
        raise InvalidParameter("selection.thingsGroupId", "selection.thingsGroupId must be a string")
    return kind, chosen
