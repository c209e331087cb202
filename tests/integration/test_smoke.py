import aiocosmos


async def test_account_is_reachable_with_a_signed_request(client: aiocosmos.CosmosClient) -> None:
    account = await client.get_database_account()
    assert account.status_code == 200
    assert account["writableLocations"][0]["databaseAccountEndpoint"].startswith("http://127.0.0.1:")
