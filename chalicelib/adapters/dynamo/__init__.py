"""raspa's adapters dynamo layer."""
