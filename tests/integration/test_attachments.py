"""Attachments (legacy) against the local server, whose launcher keeps them as the service does
(tests/cosmos-server/attachments.js): in the item's partition, reference attachments and uploaded media.
Their wire format is checked against azure-cosmos 3's requests in tests/client/test_attachments.py."""

from __future__ import annotations

import pytest

import aiocosmos

PDF = "https://files.example.com/o-1.pdf"


async def test_attachment_lifecycle(container: aiocosmos.ContainerProxy) -> None:
    await container.create_item({"id": "o-1", "pk": "c1"})
    attachments = container.get_attachments_client("o-1", partition_key="c1")
    created = await attachments.create_attachment({"id": "invoice", "contentType": "application/pdf", "media": PDF})
    assert created.status_code == 201 and created["media"] == PDF and created["_self"].endswith("/")
    with pytest.raises(aiocosmos.Conflict):
        await attachments.create_attachment({"id": "invoice", "contentType": "application/pdf", "media": PDF})
    uploaded = await attachments.create_attachment_and_upload_media(b"%PDF-1.4\x00\xff", content_type="application/pdf",
                                                                    slug="receipt")
    assert (uploaded["id"], uploaded["contentType"]) == ("receipt", "application/pdf")
    assert uploaded["media"].startswith("/media/")
    replaced = await attachments.replace_attachment("invoice", {"id": "invoice", "contentType": "text/plain",
                                                                "media": PDF + "?v=2"})
    assert replaced["media"] == PDF + "?v=2" and replaced["_rid"] == created["_rid"]
    assert (await attachments.get_attachment("invoice"))["contentType"] == "text/plain"
    assert sorted([a["id"] async for a in attachments.list_attachments()]) == ["invoice", "receipt"]
    assert [a["id"] async for a in attachments.query_attachments(
        "SELECT * FROM a WHERE a.contentType = 'application/pdf'")] == ["receipt"]
    await attachments.delete_attachment("receipt")
    with pytest.raises(aiocosmos.NotFound):
        await attachments.get_attachment("receipt")


async def test_attachments_live_in_their_items_partition(container: aiocosmos.ContainerProxy) -> None:
    await container.create_item({"id": "o-1", "pk": "c1"})
    with pytest.raises(aiocosmos.NotFound):  # no item o-1 in partition c2
        await container.get_attachments_client("o-1", partition_key="c2").create_attachment(
            {"id": "a", "contentType": "application/pdf", "media": PDF})
    await container.get_attachments_client("o-1", partition_key="c1").create_attachment(
        {"id": "a", "contentType": "application/pdf", "media": PDF})
    listed = [a["id"] async for a in container.get_attachments_client("o-1", partition_key="c1").list_attachments()]
    assert listed == ["a"]
