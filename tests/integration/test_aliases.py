"""Aliases through the official client: atomic changes, listing, use in place of a name."""

from __future__ import annotations

from qdrant_client import models

from tests.integration.transport_errors import expect_error


def make_collection(client, name: str) -> None:
    client.create_collection(name, vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT))
    client.upsert(name, points=[models.PointStruct(id=1, vector=[1.0, 0.0], payload={"of": name})], wait=True)


def alias_pairs(client, collection: str | None = None) -> set[tuple[str, str]]:
    found = client.get_collection_aliases(collection) if collection else client.get_aliases()
    return {(a.alias_name, a.collection_name) for a in found.aliases}


def test_alias_lifecycle_and_use_in_place_of_the_name(client, collection_name):
    other = collection_name + "_b"
    make_collection(client, collection_name)
    make_collection(client, other)
    alias = collection_name + "_live"
    client.update_collection_aliases(
        change_aliases_operations=[
            models.CreateAliasOperation(create_alias=models.CreateAlias(collection_name=collection_name, alias_name=alias))
        ]
    )
    assert (alias, collection_name) in alias_pairs(client)
    assert alias_pairs(client, collection_name) == {(alias, collection_name)}
    # Every read and write accepts the alias.
    assert client.retrieve(alias, ids=[1])[0].payload == {"of": collection_name}
    assert client.query_points(alias, query=[1.0, 0.0], limit=1).points[0].id == 1
    client.upsert(alias, points=[models.PointStruct(id=2, vector=[0.0, 1.0])], wait=True)
    assert client.count(collection_name).count == 2
    assert client.get_collection(alias).points_count == 2
    assert client.collection_exists(alias)

    # Switch the alias to the other collection atomically: delete + create in one request.
    client.update_collection_aliases(
        change_aliases_operations=[
            models.DeleteAliasOperation(delete_alias=models.DeleteAlias(alias_name=alias)),
            models.CreateAliasOperation(create_alias=models.CreateAlias(collection_name=other, alias_name=alias)),
        ]
    )
    assert client.retrieve(alias, ids=[1])[0].payload == {"of": other}

    renamed = alias + "_2"
    client.update_collection_aliases(
        change_aliases_operations=[
            models.RenameAliasOperation(rename_alias=models.RenameAlias(old_alias_name=alias, new_alias_name=renamed))
        ]
    )
    assert alias_pairs(client, other) == {(renamed, other)}

    client.delete_collection(other)
    assert all(pair[0] != renamed for pair in alias_pairs(client))


def test_a_failing_action_applies_none_of_the_batch(client, collection_name):
    make_collection(client, collection_name)
    alias = collection_name + "_a"
    with expect_error(404, "doesn't exist"):
        client.update_collection_aliases(
            change_aliases_operations=[
                models.CreateAliasOperation(
                    create_alias=models.CreateAlias(collection_name=collection_name, alias_name=alias)
                ),
                models.CreateAliasOperation(
                    create_alias=models.CreateAlias(collection_name="missing_" + collection_name, alias_name="x")
                ),
            ]
        )
    assert alias_pairs(client, collection_name) == set()


def test_malformed_alias_request_is_rejected(http, node):
    response = http.post(node.url + "/collections/aliases", json={"actions": [{"make_alias": {}}]})
    assert response.status_code == 400
    assert "error" in response.json()["status"]
    response = http.post(node.url + "/collections/aliases", json={})
    assert response.status_code == 400
