"""What the HTTP service and the worker share, owned by neither: the inbox message codec, metrics,
structured logs and both processes' settings. The worker imports nothing from the HTTP package."""
