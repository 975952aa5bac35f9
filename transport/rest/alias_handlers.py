"""Alias endpoints: change aliases atomically, list them."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from consensus.errors import BadInput
from consensus.operations import CreateAlias, DeleteAlias, RenameAlias
from transport.rest.envelope import ok, read_json, started_at

_ACTIONS = {
    "create_alias": (CreateAlias, {"alias_name": "alias", "collection_name": "collection"}),
    "delete_alias": (DeleteAlias, {"alias_name": "alias"}),
    "rename_alias": (RenameAlias, {"old_alias_name": "old", "new_alias_name": "new"}),
}


def parse_alias_actions(body: Any) -> list[Any]:
    """``{"actions": [{"create_alias": {...}}, ...]}`` into alias actions, in order."""
    if not isinstance(body, dict) or not isinstance(body.get("actions"), list):
        raise BadInput("Json deserialize error: missing field `actions`")
    actions = []
    for index, raw in enumerate(body["actions"]):
        if not isinstance(raw, dict) or len(raw) != 1 or next(iter(raw)) not in _ACTIONS:
            raise BadInput(
                f"Json deserialize error: actions[{index}]: expected one of create_alias, delete_alias, rename_alias"
            )
        (kind, args), = raw.items()
        cls, fields = _ACTIONS[kind]
        if not isinstance(args, dict):
            raise BadInput(f"Json deserialize error: actions[{index}].{kind} must be an object")
        values = {}
        for field, attribute in fields.items():
            value = args.get(field)
            if not isinstance(value, str):
                raise BadInput(f"Json deserialize error: actions[{index}].{kind}: missing field `{field}`")
            values[attribute] = value
        actions.append(cls(**values))
    return actions


def _render(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    return {"aliases": [{"alias_name": alias, "collection_name": collection} for alias, collection in pairs]}


async def change_aliases(request: web.Request) -> web.Response:
    actions = parse_alias_actions(await read_json(request))
    await request.app["ctx"].catalog.change_aliases(actions)
    return ok(True, started_at(request))


async def list_aliases(request: web.Request) -> web.Response:
    return ok(_render(request.app["ctx"].catalog.aliases()), started_at(request))


async def collection_aliases(request: web.Request) -> web.Response:
    catalog = request.app["ctx"].catalog
    name = catalog.get(request.match_info["name"]).name
    return ok(_render([pair for pair in catalog.aliases() if pair[1] == name]), started_at(request))


def add_routes(app: web.Application) -> None:
    app.router.add_post("/collections/aliases", change_aliases)
    app.router.add_get("/aliases", list_aliases)
    app.router.add_get("/collections/{name}/aliases", collection_aliases)
