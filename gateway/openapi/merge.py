"""Merging OpenAPI 3.1 documents into the public one: paths under /api/v1, tags per service, shared schemas."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from typing import Any

from servicekit.openapi import is_internal
from servicekit.roles import required_role

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
SCHEMA_REF = "#/components/schemas/"
GATEWAY = "gateway"

SECURITY_SCHEMES: dict[str, Any] = {
    "ApiKey": {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": "`Authorization: ApiKey <username>:<key>`",
    },
    "Bearer": {"type": "http", "scheme": "bearer", "description": "`Authorization: Bearer <key>`"},
}


class MergeConflict(RuntimeError):
    """The documents cannot be merged (duplicate operation ids or paths); the stack is misbuilt."""


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _prefixed_name(source: str, name: str) -> str:
    return source[:1].upper() + source[1:] + name


def _rename_refs(node: Any, renames: Mapping[str, str]) -> Any:
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith(SCHEMA_REF):
                name = value[len(SCHEMA_REF):]
                out[key] = SCHEMA_REF + renames.get(name, name)
            else:
                out[key] = _rename_refs(value, renames)
        return out
    if isinstance(node, list):
        return [_rename_refs(item, renames) for item in node]
    return node


def _retitled(name: str, schema: Any, renames: Mapping[str, str]) -> Any:
    """`schema` with a title that names it in the merged document.

    Generators (openapi-python-client) name classes after titles, so a renamed schema keeping its old title would
    clash with its namesake, and a generic one (`Page[PackageRead]`) would not say which `PackageRead` it holds.
    """
    if not isinstance(schema, dict) or "title" not in schema:
        return schema
    if name in renames.values():
        return {**schema, "title": name}
    if "[" not in schema["title"]:
        return schema
    return {**schema, "title": re.sub(r"\w+", lambda word: renames.get(word[0], word[0]), schema["title"])}


def _schema_refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"][len(SCHEMA_REF):]} if str(node.get("$ref", "")).startswith(SCHEMA_REF) else set()
        return found.union(*(_schema_refs(value) for value in node.values()))
    if isinstance(node, list):
        return set().union(*(_schema_refs(item) for item in node))
    return set()


def _reachable_schemas(doc: Mapping[str, Any]) -> set[str]:
    """The schemas `doc` refers to outside its schemas section, and those they refer to in turn."""
    components = doc.get("components", {})
    schemas = components.get("schemas", {})
    outside = {key: value for key, value in doc.items() if key != "components"}
    frontier = _schema_refs(outside) | _schema_refs({k: v for k, v in components.items() if k != "schemas"})
    reachable: set[str] = set()
    while frontier:
        name = frontier.pop()
        if name not in reachable and name in schemas:
            reachable.add(name)
            frontier |= _schema_refs(schemas[name])
    return reachable


def role_sentence(operation: Mapping[str, Any]) -> str:
    return f"Requires role: {required_role(operation).value}."


def _describe_role(operation: dict[str, Any]) -> None:
    """Say in the operation's description which role it needs, for readers of /docs who never see extensions.

    The `x-amber-role` marker itself is kept as the service declared it (an operation without one needs admin).
    """
    description = operation.get("description") or ""
    sentence = role_sentence(operation)
    if sentence not in description:
        operation["description"] = f"{description}\n\n{sentence}" if description else sentence


def public_operations(doc: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of `doc` without its internal operations (`servicekit.openapi`).

    A path left without operations goes too, and so do the schemas that only internal operations used.
    """
    public = copy.deepcopy(dict(doc))
    paths: dict[str, Any] = {}
    for path, item in public.get("paths", {}).items():
        kept = {
            key: value for key, value in item.items()
            if not (key in HTTP_METHODS and isinstance(value, dict) and is_internal(value))
        }
        if any(method in kept for method in HTTP_METHODS):
            paths[path] = kept
    if "paths" in public:
        public["paths"] = paths
    schemas = public.get("components", {}).get("schemas")
    if schemas:
        unused = _reachable_schemas(doc) - _reachable_schemas(public)
        public["components"]["schemas"] = {name: schema for name, schema in schemas.items() if name not in unused}
    return public


def _schema_renames(sources: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, str]]:
    """Per source, the schema names to prefix.

    A name is prefixed everywhere when two sources define it differently, or when identical definitions refer to
    a prefixed name (the same text, e.g. `Page_PackageRead_`, then means different things in different services).
    """
    definitions: dict[str, dict[str, Any]] = {}
    for source, doc in sources.items():
        for name, schema in doc.get("components", {}).get("schemas", {}).items():
            definitions.setdefault(name, {})[source] = schema
    shared = {name: by_source for name, by_source in definitions.items() if len(by_source) > 1}
    colliding = {
        name for name, by_source in shared.items() if len({_canonical(s) for s in by_source.values()}) > 1
    }
    while True:
        dependent = {
            name for name, by_source in shared.items()
            if name not in colliding and any(_schema_refs(s) & colliding for s in by_source.values())
        }
        if not dependent:
            break
        colliding |= dependent
    renames: dict[str, dict[str, str]] = {source: {} for source in sources}
    for name in colliding:
        for source in definitions[name]:
            renames[source][name] = _prefixed_name(source, name)
    taken = set(definitions) - colliding
    for source, names in renames.items():
        for original, renamed in names.items():
            if renamed in taken:
                raise MergeConflict(f"renaming {source}'s schema {original} to {renamed} collides with another")
            taken.add(renamed)
    return renames


def merge_documents(
    gateway: Mapping[str, Any],
    services: Mapping[str, Mapping[str, Any]],
    *,
    prefix: str = "/api/v1",
    title: str = "Amber API",
    version: str = "1",
    description: str = "",
) -> dict[str, Any]:
    """The public document: `gateway`'s paths as they are, each service's under `prefix`.

    Every operation is tagged with its source's name, then its own tags. Operation ids are kept and must be unique.
    Schemas defined identically by several sources are shared; names defined differently are prefixed with the
    source's name (e.g. `TransferFileRead`) and that source's references rewritten. Each service's own security
    declarations give way to the gateway's API key schemes. Internal operations are left out, with the paths and
    schemas only they had. Each operation's description ends with the role it needs (`servicekit.roles`).
    """
    sources = {source: public_operations(doc) for source, doc in {GATEWAY: gateway, **services}.items()}
    renames = _schema_renames(sources)
    paths: dict[str, Any] = {}
    components: dict[str, dict[str, Any]] = {"schemas": {}}
    tags: list[dict[str, Any]] = []
    operation_ids: dict[str, str] = {}
    seen_tags: set[str] = set()

    for source, original in sources.items():
        doc = _rename_refs(copy.deepcopy(dict(original)), renames[source])
        info = doc.get("info", {})
        tags.append({"name": source, "description": info.get("description") or info.get("title") or source})
        seen_tags.add(source)
        for tag in doc.get("tags", []):
            if tag.get("name") not in seen_tags:
                tags.append(tag)
                seen_tags.add(tag["name"])

        for path, item in doc.get("paths", {}).items():
            public = path if source == GATEWAY else prefix + path
            if public in paths:
                raise MergeConflict(f"{public} is declared twice")
            for method in HTTP_METHODS:
                operation = item.get(method)
                if operation is None:
                    continue
                operation["tags"] = [source, *(tag for tag in operation.get("tags", []) if tag != source)]
                operation.pop("security", None)
                _describe_role(operation)
                operation_id = operation.get("operationId")
                if operation_id:
                    if operation_id in operation_ids:
                        raise MergeConflict(
                            f"operation id {operation_id!r} is used by {operation_ids[operation_id]} and by "
                            f"{source} ({method.upper()} {public})"
                        )
                    operation_ids[operation_id] = f"{source} ({method.upper()} {public})"
            paths[public] = item

        for section, entries in doc.get("components", {}).items():
            if section == "securitySchemes":
                continue
            merged = components.setdefault(section, {})
            for name, value in entries.items():
                if section == "schemas":
                    name = renames[source].get(name, name)
                    value = _retitled(name, value, renames[source])
                if name in merged and _canonical(merged[name]) != _canonical(value):
                    raise MergeConflict(f"components/{section}/{name} is defined differently by several services")
                merged[name] = value

    components["schemas"] = dict(sorted(components["schemas"].items()))
    components["securitySchemes"] = copy.deepcopy(SECURITY_SCHEMES)
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version, "description": description},
        "paths": paths,
        "components": components,
        "security": [{name: []} for name in SECURITY_SCHEMES],
        "tags": tags,
    }
