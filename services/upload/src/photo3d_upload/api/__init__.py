"""The HTTP API: one controller per resource (photos, stages), each handler two lines."""
