"""One request on the wire: transport (the only aiohttp user), auth, codec, clock, retry policy,
pipeline, regions, session tokens, options, and the checks on ids, partition keys and documents."""
