"""The merged public OpenAPI document and the routing table, from real documents and from crafted ones."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gateway.main import create_app
from gateway.openapi.merge import MergeConflict, merge_documents
from gateway.proxy.registry import RoutingConflict, build_routing_table
from servicekit.openapi import is_internal
from servicekit.roles import ROLE_EXTENSION
from tests.conftest import asgi_client, serve_http
from tests.gateway.harness import gateway_settings, gateway_stack, upstream_app


async def test_public_document_merges_the_services_and_the_gateway(tmp_path: Path) -> None:
    async with gateway_stack(tmp_path) as stack:
        response = await stack.client.get("/openapi.json")
        assert response.status_code == 200
        doc = response.json()
    assert doc["openapi"].startswith("3.1")
    paths = doc["paths"]
    assert {"/api/v1/widgets", "/api/v1/widgets/{widget_id}", "/api/v1/uploads", "/api/v1/downloads/{size}"} <= set(
        paths
    )
    assert not any(path.startswith("/widgets") for path in paths)
    listing = paths["/api/v1/widgets"]["get"]
    assert listing["operationId"] == "list_widgets"
    assert listing["tags"] == ["transfer", "widgets"]
    assert paths["/api/v1/widgets"]["post"]["operationId"] == "create_widget"
    # The gateway's own operations, tagged "gateway".
    own = {
        ("get", "/api/v1/me"): "get_current_user",
        ("get", "/api/v1/keys"): "list_api_keys",
        ("post", "/api/v1/keys"): "create_api_key",
        ("delete", "/api/v1/keys/{key_id}"): "revoke_api_key",
        ("get", "/api/v1/health"): "get_stack_health",
    }
    for (method, path), operation_id in own.items():
        assert paths[path][method]["operationId"] == operation_id
        assert paths[path][method]["tags"] == ["gateway"]
    assert "/openapi.json" not in paths and "/healthz" not in paths
    operation_ids = [op["operationId"] for item in paths.values() for op in item.values()]
    assert len(operation_ids) == len(set(operation_ids))
    schemas = doc["components"]["schemas"]
    assert {"Widget", "UploadDigest", "KeyRead", "KeyCreated", "ProblemDetail"} <= set(schemas)
    assert set(doc["components"]["securitySchemes"]) == {"ApiKey", "Bearer"}
    assert doc["security"] == [{"ApiKey": []}, {"Bearer": []}]
    assert [tag["name"] for tag in doc["tags"]][:2] == ["gateway", "transfer"]
    # Every reference resolves inside the merged document.
    for ref in _refs(doc):
        assert ref.startswith("#/components/schemas/") and ref.rsplit("/", 1)[1] in schemas, ref


async def test_docs_page_points_at_the_merged_document(tmp_path: Path) -> None:
    async with gateway_stack(tmp_path) as stack:
        page = await stack.client.get("/docs")
    assert page.status_code == 200
    assert "/openapi.json" in page.text


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for item in node for ref in _refs(item)]
    return []


def _doc(paths: dict[str, Any], schemas: dict[str, Any] | None = None, title: str = "svc") -> dict[str, Any]:
    return {"openapi": "3.1.0", "info": {"title": title, "version": "1"}, "paths": paths,
            "components": {"schemas": schemas or {}}}


def _op(operation_id: str, ref: str | None = None, tags: list[str] | None = None) -> dict[str, Any]:
    op: dict[str, Any] = {"operationId": operation_id, "responses": {"200": {"description": "ok"}}}
    if ref:
        op["responses"]["200"]["content"] = {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}
    if tags is not None:
        op["tags"] = tags
    return op


def test_colliding_schemas_are_prefixed_and_references_rewritten() -> None:
    shared = {"type": "object", "properties": {"title": {"type": "string"}}}
    transfer = _doc(
        {"/transfers": {"get": _op("list_transfers", "Item", ["transfers"])}},
        {"Item": {"type": "object", "properties": {"a": {"type": "string"}}},
         "Page": {"type": "object", "properties": {"items": {"type": "array",
                                                             "items": {"$ref": "#/components/schemas/Item"}}}},
         "Problem": shared},
    )
    storage = _doc(
        {"/aips": {"get": _op("list_aips", "Item")}},
        {"Item": {"type": "object", "properties": {"b": {"type": "integer"}}}, "Problem": shared},
    )
    merged = merge_documents(_doc({}), {"transfer": transfer, "storage": storage})
    schemas = merged["components"]["schemas"]
    assert "Item" not in schemas
    assert schemas["TransferItem"]["properties"] == {"a": {"type": "string"}}
    assert schemas["StorageItem"]["properties"] == {"b": {"type": "integer"}}
    assert schemas["Page"]["properties"]["items"]["items"]["$ref"] == "#/components/schemas/TransferItem"
    assert schemas["Problem"] == shared
    transfers = merged["paths"]["/api/v1/transfers"]["get"]
    assert transfers["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/TransferItem")
    assert transfers["tags"] == ["transfer", "transfers"]
    aips = merged["paths"]["/api/v1/aips"]["get"]
    assert aips["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/StorageItem")
    assert aips["tags"] == ["storage"]
    # The inputs are left untouched.
    assert transfer["paths"]["/transfers"]["get"]["tags"] == ["transfers"]


def test_duplicate_operation_ids_fail_loudly() -> None:
    a = _doc({"/things": {"get": _op("list_things")}})
    b = _doc({"/stuff": {"get": _op("list_things")}})
    with pytest.raises(MergeConflict, match="list_things"):
        merge_documents(_doc({}), {"transfer": a, "ingest": b})


def test_a_rename_that_collides_fails_loudly() -> None:
    a = _doc({"/a": {"get": _op("a_op")}}, {"Item": {"type": "string"}, "TransferItem": {"type": "integer"}})
    b = _doc({"/b": {"get": _op("b_op")}}, {"Item": {"type": "boolean"}})
    with pytest.raises(MergeConflict, match="TransferItem"):
        merge_documents(_doc({}), {"transfer": a, "ingest": b})


def test_routing_table_maps_first_segments_and_refuses_conflicts() -> None:
    docs = {
        "transfer": _doc({"/transfers": {}, "/transfers/{id}": {}, "/transfer-sources": {}}),
        "storage": _doc({"/aips/{id}": {}, "/locations": {}}),
    }
    assert build_routing_table(docs, reserved={"me"}) == {
        "me": "gateway", "transfers": "transfer", "transfer-sources": "transfer", "aips": "storage",
        "locations": "storage",
    }
    with pytest.raises(RoutingConflict, match="aips"):
        build_routing_table({**docs, "ingest": _doc({"/aips/x": {}})})
    with pytest.raises(RoutingConflict, match="keys"):
        build_routing_table({"ingest": _doc({"/keys": {}})}, reserved={"keys"})
    with pytest.raises(RoutingConflict):
        build_routing_table({"ingest": _doc({"/{anything}": {}})})


async def test_conflicting_services_stop_the_gateway_at_start_up(tmp_path: Path) -> None:
    async with serve_http(upstream_app(tmp_path / "a")) as first, serve_http(upstream_app(tmp_path / "b")) as second:
        settings = gateway_settings(tmp_path / "gw", first, ingest_url=second)
        with pytest.raises(RoutingConflict, match="widgets"):
            async with asgi_client(create_app(settings)):
                pass


def test_identical_wrappers_of_renamed_schemas_are_renamed_too() -> None:
    page = {"type": "object", "properties": {"items": {"type": "array",
                                                        "items": {"$ref": "#/components/schemas/Item"}}}}
    a = _doc({"/a": {"get": _op("list_a", "Page_Item_")}}, {"Item": {"type": "string"}, "Page_Item_": page})
    b = _doc({"/b": {"get": _op("list_b", "Page_Item_")}}, {"Item": {"type": "integer"}, "Page_Item_": page})
    merged = merge_documents(_doc({}), {"metadata": a, "storage": b})
    schemas = merged["components"]["schemas"]
    assert "Page_Item_" not in schemas
    assert schemas["MetadataPage_Item_"]["properties"]["items"]["items"]["$ref"].endswith("/MetadataItem")
    assert schemas["StoragePage_Item_"]["properties"]["items"]["items"]["$ref"].endswith("/StorageItem")
    ref = merged["paths"]["/api/v1/b"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    assert ref.endswith("/StoragePage_Item_")


def test_the_real_services_merge_into_one_document(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The four services' own documents (built, not served) route and merge without conflicts."""
    monkeypatch.setenv("AMBER_DATA_DIR", str(tmp_path))
    root = Path(__file__).resolve().parents[2]
    docs: dict[str, dict[str, Any]] = {}
    for service in ("transfer", "ingest", "metadata", "storage"):
        if not (root / "services" / service / "main.py").exists():
            continue
        module = importlib.import_module(f"services.{service}.main")
        docs[service] = module.create_app().openapi()
    if not docs:
        pytest.skip("no service is built yet")
    gateway_doc = create_app(gateway_settings(tmp_path, "http://127.0.0.1:9")).openapi()
    routes = build_routing_table(docs, reserved={"me", "keys", "health"})
    assert set(routes.values()) == {"gateway", *docs}
    merged = merge_documents(gateway_doc, docs)
    schemas = merged["components"]["schemas"]
    for ref in _refs(merged):
        assert ref.rsplit("/", 1)[1] in schemas, ref
    for service, doc in docs.items():
        for path, item in doc["paths"].items():
            if all(is_internal(op) for op in item.values()):
                assert f"/api/v1{path}" not in merged["paths"]
                continue
            assert f"/api/v1{path}" in merged["paths"]
            assert all(op["tags"][0] == service for op in merged["paths"][f"/api/v1{path}"].values())
    operation_ids = {op["operationId"] for item in merged["paths"].values() for op in item.values()}
    declared = {op["operationId"] for doc in docs.values() for item in doc["paths"].values() for op in item.values()}
    internal = {
        "ingest": {"create_ingest", "update_ingest", "upsert_ingest_job"},
        "metadata": {"upsert_premis_package", "add_premis_files", "add_premis_events"},
        "storage": {"store_aip_package"},
    }
    public = {
        "transfer": {"list_transfers", "get_transfer", "upload_transfer", "create_transfer_from_location"},
        "ingest": {"get_ingest", "list_ingests", "list_ingest_jobs"},
        "metadata": {"read_premis_package", "list_premis_files", "list_premis_events"},
        "storage": {"download_aip_package", "get_aip_package", "list_aip_packages"},
    }
    for service in docs:
        assert internal.get(service, set()) <= declared - operation_ids, service
        assert public[service] <= operation_ids, service
    # Every public operation, the gateway's own included, declares the role it needs.
    undeclared = [op["operationId"] for item in merged["paths"].values() for op in item.values()
                  if ROLE_EXTENSION not in op]
    assert undeclared == []
    # Exactly the operations marked internal are left out.
    assert declared - operation_ids == {
        op["operationId"] for doc in docs.values() for item in doc["paths"].values() for op in item.values()
        if is_internal(op)
    }


def test_renamed_schemas_are_titled_with_their_new_names() -> None:
    """Generators name classes after titles: two `PackageRead` titles made one SDK lose the other's model."""
    item = {"$ref": "#/components/schemas/Item"}
    a = _doc({"/a": {"get": _op("list_a", "Page_Item_")}},
             {"Item": {"title": "Item", "type": "string"},
              "Page_Item_": {"title": "Page[Item]", "type": "object", "properties": {"items": {"items": item}}}})
    b = _doc({"/b": {"get": _op("get_b", "Item")}, "/c": {"get": _op("get_c", "Other")}},
             {"Item": {"title": "Item", "type": "integer"}, "Other": {"title": "Other", "type": "boolean"}})
    schemas = merge_documents(_doc({}), {"metadata": a, "storage": b})["components"]["schemas"]
    assert schemas["MetadataItem"]["title"] == "MetadataItem"
    assert schemas["StorageItem"]["title"] == "StorageItem"
    # A generic schema only one source has keeps its name, and its title says which `Item` it holds.
    assert schemas["Page_Item_"]["title"] == "Page[MetadataItem]"
    assert schemas["Other"]["title"] == "Other"


def test_problems_are_documented_as_problem_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Problems are served as application/problem+json; the document must put their schema there, and only there."""
    monkeypatch.setenv("AMBER_DATA_DIR", str(tmp_path))
    docs = [importlib.import_module(f"services.{service}.main").create_app().openapi()
            for service in ("transfer", "ingest", "metadata", "storage")]
    docs.append(create_app(gateway_settings(tmp_path, "http://127.0.0.1:9")).openapi())
    problem_json = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/ProblemDetail"}}}
    checked = 0
    for doc in docs:
        for item in doc["paths"].values():
            for operation in item.values():
                assert operation["responses"]["4XX"]["content"] == problem_json
                checked += 1
    assert checked > 60


def test_a_client_generated_from_the_real_document_has_no_warnings(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """openapi-python-client, with the configuration Amber ships, generates every operation and model.

    The quick guard of tests/e2e/test_generated_sdk.py, which uses such a client against a live stack.
    """
    monkeypatch.setenv("AMBER_DATA_DIR", str(tmp_path))
    docs = {service: importlib.import_module(f"services.{service}.main").create_app().openapi()
            for service in ("transfer", "ingest", "metadata", "storage")}
    gateway_doc = create_app(gateway_settings(tmp_path, "http://127.0.0.1:9")).openapi()
    document = tmp_path / "openapi.json"
    document.write_text(json.dumps(merge_documents(gateway_doc, docs)))
    root = Path(__file__).resolve().parents[2]
    bin_dir = Path(sys.executable).parent
    result = subprocess.run(
        [str(bin_dir / "openapi-python-client"), "generate", "--path", str(document), "--meta", "none",
         "--config", str(root / "docs" / "openapi-python-client.yaml")],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"},
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Warning" not in output and "WARNING" not in output and "Unable" not in output, output
    models = (tmp_path / "amber_api_client" / "models").glob("*.py")
    assert {"storage_package_read.py", "metadata_package_read.py", "page_storage_package_read.py",
            "recovery_read.py"} <= {model.name for model in models}
